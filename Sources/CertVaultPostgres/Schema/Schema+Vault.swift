extension Schema {
    /// The vault: the same sealed bytes as its files (docs/vault-format.md), one row per file.
    static let vaultTables = [
        // The vault's single files: the sealed keyring, the passphrase-wrapped root key in passphrase mode, and
        // the audit log's head (audit.head: last sequence, its MAC, and a MAC over both, so that rows removed from
        // the end of vault_audit are noticed). `revision` grows by one with each change (a compare-and-swap for writers).
        """
        CREATE TABLE vault_blobs (
            name text PRIMARY KEY CHECK (name IN ('keyring', 'root.passphrase', 'audit.head')),
            bytes bytea NOT NULL,
            revision bigint NOT NULL DEFAULT 1,
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        // One row per generation: exactly the bytes of tenants/<tenant>/<generation>.entry. The header inside
        // binds tenant and generation into the AEAD's associated data, so a row moved to another key fails to open.
        // A generation number is claimed by the primary key, never by read-then-write.
        """
        CREATE TABLE vault_entries (
            tenant text NOT NULL,
            generation integer NOT NULL CHECK (generation >= 1),
            bytes bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant, generation)
        )
        """,
        // The audit log: one row per line of audit.log without its LF (hash chain and MAC as in the file), appended
        // in order under an advisory lock so the chain stays linear across replicas.
        """
        CREATE TABLE vault_audit (
            sequence bigint PRIMARY KEY CHECK (sequence >= 1),
            line text NOT NULL
        )
        """,
    ]
}
