"""The pure scoring domain: model schema, events, state and engine. No AWS, no clock."""
