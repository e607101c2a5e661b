"""Everything that reacts to a stored alert.

profiles (what to do) → matcher (which profiles an alert fires) → outbox_writer (one outbox
row per firing action, in the ingest batch's transaction) → dispatcher (performs due rows)
→ executors (playbook runs, e-mail, incidents, Slack, Twilio, TheHive, JIRA).

The ingest worker knows none of this: the app hands it `outbox_writer.ResponseHook` as a
batch hook.
"""
