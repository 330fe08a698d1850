"""The real-deployment lane's parts; ``scripts/check_deployment.py`` runs them."""
