"""Lead scoring: fit and engagement, explained rule by rule (the Lambda layer's package)."""
