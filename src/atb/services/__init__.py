"""Use cases shared by the CLI and the REST API: one place that turns a request into a run."""
