extension Schema {
    /// The webhook outbox: one row per event and receiver (the JSON of an outbox file; never a secret).
    static let webhookTables = [
        """
        CREATE TABLE webhook_outbox (
            id text PRIMARY KEY,
            entry bytea NOT NULL,
            state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'dead')),
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """,
    ]
}
