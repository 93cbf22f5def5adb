"""The HTTP API: routes by concern, domain errors mapped once to problem+json."""
