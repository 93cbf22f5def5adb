"""Adapters between the domain and the outside world (DynamoDB, SQS, SNS, Slack, webhooks)."""
