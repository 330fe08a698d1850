"""The disruptions the deferred waits go through: a triggerer killed, Mimecast restarted, the client secret
rotated and Mimecast away for longer than the hook's retry budget."""

from __future__ import annotations

import dataclasses
import secrets
import signal
import time

from deployment.airflow_deployment import TRIGGERER_HEALTH_SECONDS
from deployment.scenario_steps import OAUTH_CONN, PhaseError, ScenarioSteps
from deployment.traffic import TRIGGERER, token_secret


class Disruptions(ScenarioSteps):
    """The phases ``kill``, ``restart``, ``rotate`` and ``outage`` of :class:`~deployment.scenario.Scenario`."""

    def kill_triggerer(self) -> None:
        held = self.holders()
        victim_job = max((h for h in held if h), key=lambda h: held[h])
        name = next(n for n, job in self.outcome.triggerer_job.items() if job == victim_job)
        self.say(f"SIGKILL {name} (job {victim_job}, {held[victim_job]} triggers) and everything it started")
        mark = self.mark("kill")
        self.deployment.processes[name].kill_session(signal.SIGKILL)

        def handed_over() -> bool:
            return victim_job not in self.holders()

        try:
            self.wait_for(
                "triggers handed to the other triggerer", handed_over, TRIGGERER_HEALTH_SECONDS + 120
            )
        except PhaseError as error:
            self.check("kill: the other triggerer takes the triggers over", False, str(error))
            return
        self.outcome.figures["handover after SIGKILL"] = f"{time.monotonic() - mark.at:.0f} s"
        took = self.answered_again("kill", mark, timeout=2 * self.poke + 60)
        if took is not None:
            self.say(f"the surviving triggerer polls every wait, {took:.0f} s after the kill")
        self.still_deferred("kill")
        self.measure_rounds("one triggerer")

    def live_triggerers(self) -> int:
        return sum(1 for name in self.outcome.triggerer_job if self.deployment.processes[name].alive())

    def restart_simulator(self) -> None:
        self.say("restarting the simulator: every token it issued is forgotten")
        mark = self.mark("restart")
        self.sim.stop()
        self.sim.forget_tokens()
        self.sim.start()
        self.outcome.token_bound += self.live_triggerers()  # one renewal each
        took = self.answered_again("restart", mark, timeout=2 * self.poke + 60)
        if took is not None:
            self.say(f"every wait answered again {took:.0f} s after the restart")
        renewed = self.since(mark).tokens(TRIGGERER, 200)
        self.check("restart: the triggerer renews its token", bool(renewed), f"{len(renewed)} tokens issued")
        self.still_deferred("restart")

    def rotate_secret(self) -> None:
        new_secret = "rotated-" + secrets.token_urlsafe(24)
        self.say("rotating the client secret: the simulator and the connection, and tokens forgotten")
        mark = self.mark("rotate")
        self.sim.set_credentials(dataclasses.replace(self.sim.credentials, client_secret=new_secret))
        self.deployment.api.patch(
            f"/api/v2/connections/{OAUTH_CONN}",
            {"connection_id": OAUTH_CONN, "conn_type": "mimecast", "password": new_secret},
            update_mask="password",
        )
        # As when the old secret's token expires: the next renewal needs the new secret.
        self.sim.forget_tokens()
        self.outcome.token_bound += self.live_triggerers()
        took = self.answered_again("rotate", mark, timeout=3 * self.poke + 90)
        if took is not None:
            self.say(f"every wait answered again {took:.0f} s after the rotation")
        renewed = [r for r in self.since(mark).tokens(TRIGGERER, 200) if token_secret(r) == new_secret]
        self.check(
            "rotate: the triggerer renews its token with the new secret",
            bool(renewed),
            f"{len(renewed)} tokens issued for the new secret, "
            f"{len(self.since(mark).tokens(TRIGGERER)) - len(renewed)} token requests refused",
        )
        self.still_deferred("rotate")

    def take_mimecast_away(self) -> None:
        seconds = self.options.outage_seconds
        self.say(f"Mimecast away for {seconds:.0f} s (longer than the hook's retry budget)")
        self.mark("outage")
        self.sim.stop()
        time.sleep(seconds)
        self.sim.start()
        back = self.mark("back")
        took = self.answered_again("outage", back, timeout=2 * self.poke + 90)
        if took is not None:
            self.outcome.figures["first answer after the outage"] = f"{took:.0f} s after Mimecast was back"
            self.say(f"every wait answered again {took:.0f} s after Mimecast came back")
        self.still_deferred("outage")
