extension Vault {
    /// The audit log's records and any problem with them.
    public func auditRecords() -> (records: [AuditLog.Record], problems: [String]) { audit.verify() }
}
