"""The local stack behind `make run`: moto, the API, the queue pollers, schedules and an outbox.

A developer tool: it imports the runtime package and the functions' handlers, never the
reverse, and it is not part of any Lambda artifact.
"""
