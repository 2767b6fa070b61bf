extension Schema {
    /// Onboarding records (no secrets: the certificate and password stay in the vault) and leases.
    static let onboardingTables = [
        // The same JSON as <state_dir>/<tenant>.json.
        """
        CREATE TABLE onboarding_records (
            tenant text PRIMARY KEY,
            record bytea NOT NULL,
            revision bigint NOT NULL DEFAULT 1,
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        // Who owns long work (a tenant's device-code wait and add, a background job) until when. Expiry is the
        // database's clock; `fence` grows with every change of holder, and a write by a holder whose fence is
        // no longer current is refused. A released lease keeps its row (expires_at = -infinity), so a fence never
        // goes back (see PostgresLeases).
        """
        CREATE TABLE leases (
            name text PRIMARY KEY,
            holder text NOT NULL,
            fence bigint NOT NULL,
            expires_at timestamptz NOT NULL,
            acquired_at timestamptz NOT NULL DEFAULT now()
        )
        """,
    ]
}
