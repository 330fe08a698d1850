"""The provider in a real Airflow deployment, as users run it, with the failures a deployment meets.

    python3 scripts/check_deployment.py                 # everything (6 to 8 minutes on 2 cores)
    python3 scripts/check_deployment.py --phases kill   # only some of the disruptions
    python3 scripts/check_deployment.py --variants ''   # today's waits only

It builds what it needs: a virtualenv (``.venv-deployment``) with Airflow 3.3, its ``postgres`` extra (the
PostgreSQL drivers) and this checkout, at the versions pinned in ``ci/constraints/deployment.txt``; Debian's ``postgresql`` package if no
``initdb`` is found (as root); a throw-away PostgreSQL cluster on loopback and a throw-away AIRFLOW_HOME.
It starts ``airflow api-server``, ``scheduler`` (LocalExecutor), ``dag-processor`` and two ``airflow
triggerer`` processes, and runs the Mimecast simulator in this process. Then it runs both example DAGs and a
DAG of 100 mapped deferrable waits (``scripts/deployment/dags/``), and while the waits are deferred it
SIGKILLs the triggerer holding most of them, restarts the simulator (tokens forgotten), rotates the client
secret (simulator and connection) and takes the simulator away for 45 s. Every wait must still succeed in
its first try, with no duplicate upload; the checks read the simulator's counts and the metadata database.

After the kill, the other ways of waiting (``--variants``: no worker check and the end in the triggerer;
the start in the triggerer, mapped and unmapped) each wait for 100 imports of a simulator of their own,
beside today's waits; the table puts what each costs side by side, and the lane fails unless every one
meets issue 17's goal (tokens, status requests per round, worker runs per wait, completion to success).

It stops everything it started on success, failure and Ctrl-C. On failure it keeps the components' logs
(and the task logs) and names their folder; it exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the simulator, from this checkout (it imports nothing from Airflow)

from deployment import postgres  # noqa: E402
from deployment.airflow_deployment import AirflowDeployment, free_port  # noqa: E402
from deployment.metadata import Metadata  # noqa: E402
from deployment.profile import blocks  # noqa: E402
from deployment.report import blocked_warnings, comparison, final_checks, table  # noqa: E402
from deployment.scenario import EXAMPLE_POLL_SECONDS, Scenario  # noqa: E402
from deployment.scenario_steps import PHASES, Options, PhaseError  # noqa: E402
from deployment.traffic import Traffic  # noqa: E402
from deployment.variants import BY_NAME, ENV_VAR, TODAY, VARIANTS, dag_specs  # noqa: E402

from airflow_provider_mimecast.testing.simulator import RECORDED_BUCKET, MimecastSimulator  # noqa: E402

VENV = ROOT / ".venv-deployment"
REQUIREMENTS = ("apache-airflow[postgres]",)
# Every version, Airflow's included, comes from the lane's committed pins (ci/update_pins.py);
# PIP_CONSTRAINT also reaches the pip that fills the isolated build environment of `-e`.
PINS = ROOT / "ci" / "constraints" / "deployment.txt"


def pip_install(venv: Path, *requirements: str) -> None:
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "-c", str(PINS), *requirements],
        check=True,
        stderr=subprocess.DEVNULL,  # pip's many "Location ... is ignored" warnings; errors still fail
        env={**os.environ, "PIP_CONSTRAINT": str(PINS)},
    )


def metered_simulator(pending_seconds: float = 1.0, processing_seconds: float = 2.0) -> MimecastSimulator:
    """A simulator that meters Mimecast's documented bucket as recorded (800, one back every 5,000 ms): the
    lane's waits must keep to it without a 429 once their first round has seen the headers."""
    return MimecastSimulator(
        max_recorded_requests=None,
        rate_limit=RECORDED_BUCKET.limit,
        rate_refill=RECORDED_BUCKET.refill,
        rate_reset_ms=RECORDED_BUCKET.reset_ms,
        pending_seconds=pending_seconds,
        processing_seconds=processing_seconds,
    )


def build_venv(install: bool) -> Path:
    if install or not (VENV / "bin" / "airflow").exists():
        print(
            f"Installing {', '.join(REQUIREMENTS)} and this checkout into {VENV}, pinned by {PINS.name} ...",
            flush=True,
        )
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip_install(VENV, *REQUIREMENTS, "-e", str(ROOT))
    return VENV


def probe(venv: Path, code: str, argument: str) -> str:
    """The last line ``code`` prints, run by the deployment's Python with ``argument`` (no Airflow settings
    of this process's, a throw-away AIRFLOW_HOME).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="mimecast-deployment-probe-")
    try:
        out = subprocess.run(
            [str(venv / "bin" / "python"), "-c", code, argument],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        ).stdout
    finally:
        shutil.rmtree(env["AIRFLOW_HOME"], ignore_errors=True)
    return out.strip().splitlines()[-1]


def status_batch_size(venv: Path, connection: str) -> int:
    """The batch size the provider uses for ``connection``: its extra if set, else the provider's default."""
    code = (
        "import json, sys; from airflow_provider_mimecast.settings import MimecastSettings; "
        "c = json.loads(sys.argv[1]); print(MimecastSettings.from_connection_fields(host=c['host'], "
        "login=c['login'], password=c['password'], extra=c['extra']).status_batch_size)"
    )
    return int(probe(venv, code, json.dumps(json.loads(connection))))


def missing_sensor_options(venv: Path, names: Sequence[str]) -> dict[str, list[str]]:
    """Variant -> the sensor arguments it needs that the installed sensor does not take."""
    wanted = {name: sorted(BY_NAME[name].sensor_kwargs) for name in names}
    code = (
        "import inspect, json, sys; "
        "from airflow_provider_mimecast.sensors.import_status import MimecastImportStatusSensor as S; "
        "p = inspect.signature(S.__init__).parameters; "
        "print(json.dumps({v: [a for a in args if a not in p] for v, args in json.loads(sys.argv[1]).items()}))"
    )
    missing: dict[str, list[str]] = json.loads(probe(venv, code, json.dumps(wanted)))
    return {name: args for name, args in missing.items() if args}


def print_blocks(logs: Path) -> None:
    for recording in sorted(logs.glob("*.speedscope.json")):
        found = blocks(recording, min_seconds=0.1)
        print(f"\n{recording.name}: {len(found)} stretches of 0.1 s or more in the trigger loop")
        for block in found[:8]:
            print("  " + block.describe())


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--phases", default=",".join(PHASES), help=f"disruptions to run, from {','.join(PHASES)}"
    )
    parser.add_argument("--waits", type=int, default=100, help="mapped deferrable waits (default 100)")
    parser.add_argument(
        "--poke", type=float, default=5.0, help="the waits' poke_interval in seconds (default 5)"
    )
    others = [v.name for v in VARIANTS if v.name != TODAY]
    parser.add_argument(
        "--variants",
        default=",".join(others),
        help=f"ways of waiting to measure beside today's, from {','.join(others)} (default all; '' for none)",
    )
    parser.add_argument("--outage", type=float, default=45.0, help="seconds Mimecast is away (default 45)")
    parser.add_argument("--parallelism", type=int, default=8, help="the LocalExecutor's task processes")
    parser.add_argument("--no-install", action="store_true", help="reuse .venv-deployment as it is")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="record the triggerers with py-spy and name what blocked their loop",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the logs folder on success too")
    args = parser.parse_args(argv)
    phases = tuple(p for p in args.phases.split(",") if p)
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases {sorted(unknown)}; choose from {','.join(PHASES)}")
    variants = tuple(v for v in args.variants.split(",") if v)
    unknown = set(variants) - set(others)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; choose from {','.join(others)}")

    began = time.monotonic()
    # Both, explicitly: a shell starts background jobs with SIGINT ignored, and CI may stop us with SIGTERM.
    signal.signal(signal.SIGINT, _interrupted)
    signal.signal(signal.SIGTERM, _interrupted)
    venv = build_venv(install=not args.no_install)
    if args.profile:
        pip_install(venv, "py-spy")
    missing = missing_sensor_options(venv, variants)
    if missing:
        for name, arguments in missing.items():
            print(
                f"check_deployment: variant {name} needs MimecastImportStatusSensor({', '.join(arguments)}=...), "
                "which this checkout's sensor does not take; measure today's waits only with --variants ''",
                file=sys.stderr,
            )
        print("check_deployment: FAILED before starting anything", file=sys.stderr)
        return 1
    bindir = postgres.install_server()
    work = Path(tempfile.mkdtemp(prefix="mimecast-deployment-"))
    logs = Path(tempfile.mkdtemp(prefix="mimecast-deployment-logs-"))
    (logs / "postgres.log").touch()
    # Its own temp dir (not under ``work``, which only root may enter): the server may run as ``postgres``.
    pg_dir = Path(tempfile.mkdtemp(prefix="mimecast-deployment-postgres-"))
    cluster = postgres.Cluster(bindir, pg_dir, free_port(), logs / "postgres.log")
    simulator = metered_simulator()
    # One each: every variant's requests are counted apart, and today's disruptions do not touch them.
    variant_simulators = {name: metered_simulator() for name in variants}
    deployment: AirflowDeployment | None = None
    scenario: Scenario | None = None
    passed = False
    try:
        simulator.start()
        for variant_simulator in variant_simulators.values():
            variant_simulator.start()
        options = Options(
            waits=args.waits,
            poke_seconds=args.poke,
            outage_seconds=args.outage,
            phases=phases,
            parallelism=args.parallelism,
            variants=variants,
            status_batch_size=status_batch_size(venv, simulator.airflow_connection("oauth2")),
        )
        print(f"PostgreSQL from {bindir}, simulator at {simulator.url}, logs in {logs}", flush=True)
        cluster.start()
        deployment = AirflowDeployment(
            venv,
            work / "airflow-home",
            logs,
            cluster.url,
            parallelism=options.parallelism,
            extra_env={
                "MIMECAST_EXAMPLE_POLL_SECONDS": str(EXAMPLE_POLL_SECONDS),
                "MIMECAST_DEPLOYMENT_POKE_SECONDS": str(options.poke_seconds),
                ENV_VAR: dag_specs((BY_NAME[name] for name in variants), options.waits),
            },
            profile=args.profile,
        )
        scenario = Scenario(
            deployment, Metadata(cluster), simulator, options, variant_simulators=variant_simulators
        )
        try:
            scenario.run()
        except PhaseError as error:
            scenario.check("the scenario ran to its end", False, str(error))
        traffic = Traffic(simulator.requests)
        checks = scenario.outcome.checks + final_checks(scenario, traffic)
        blocked = blocked_warnings(sorted(logs.glob("triggerer-*.log")))
        print("\n" + table(scenario, traffic, blocked, time.monotonic() - began) + "\n")
        print(comparison(scenario, traffic) + "\n")
        for check in checks:
            print(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
        passed = all(check.ok for check in checks)
        if args.profile:
            deployment.stop()  # the profilers write their recordings when they stop
            print_blocks(logs)
    except KeyboardInterrupt:
        print("\ncheck_deployment: interrupted; stopping everything", file=sys.stderr)
    finally:
        if scenario is not None:
            scenario.variant_runs.stop()
        if deployment is not None:
            deployment.stop()
        cluster.stop()
        simulator.stop()
        for variant_simulator in variant_simulators.values():
            variant_simulator.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pg_dir, ignore_errors=True)
        if passed and not args.keep_logs:
            shutil.rmtree(logs, ignore_errors=True)
        else:
            print(f"check_deployment: the components' logs (and task logs) are in {logs}", file=sys.stderr)
    print(f"check_deployment: {'passed' if passed else 'FAILED'} in {time.monotonic() - began:.0f} s")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
