extension Schema {
    /// API tokens and invitation links: only keyed hashes of the secrets, in the same MACed format as
    /// the `tokens` and `invitations` files.
    static let accessTables = [
        """
        CREATE TABLE access_stores (
            name text PRIMARY KEY CHECK (name IN ('tokens', 'invitations')),
            bytes bytea NOT NULL,
            revision bigint NOT NULL DEFAULT 1,
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """,
    ]
}
