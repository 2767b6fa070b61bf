public import CertVaultCore

/// A generation as `list` and `show` report it; no secrets.
public struct EntrySummary: Sendable, Hashable, Codable {
    public let tenant: TenantID
    public let generation: Int
    public let created: String
    public let kekID: Int
    public let metadata: EntryMetadata
}
