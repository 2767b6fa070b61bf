// The configuration file's reader lives here (see ServiceConfiguration and docs/configuration.md).
