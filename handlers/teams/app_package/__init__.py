"""The Teams app package template: manifest.json (placeholder app id) and both icons."""
