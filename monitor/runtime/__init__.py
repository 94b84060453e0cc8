"""The shell every stream app stands on: settings, Kafka client factory, topic admin, logging, HTTP, runner."""
