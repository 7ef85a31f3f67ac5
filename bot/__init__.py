"""servechain core: platform-neutral domain (models, lifecycle, messages, metrics).

Nothing in this package imports a chat platform SDK; front ends live in ``handlers``.
"""
