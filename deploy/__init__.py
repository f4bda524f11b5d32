"""The lab's set-up files (``lab.sh`` and the kustomize overlays), shipped as package data.

``rca lab up|status|down`` runs ``lab.sh`` from here; see docs/chaos.md. Nothing to import.
"""
