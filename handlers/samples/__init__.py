"""The sample org (YAML and CSV) the console seeds a fresh store with; also an example to copy.

``week.txt`` (in the source tree) is a console script playing a week at that org, so every
feature has something to show: ``cat handlers/samples/week.txt | servechain console --db week.json``.
"""
