internal import CertVaultCore
internal import Foundation

extension Vault {
    /// Opens every entry (header, data key, payload, metadata) and the audit log.
    ///
    /// - Returns: what was checked and every problem found; an empty problem list means intact.
    public func verify() throws -> VerifyReport {
        var problems: [String] = []
        var entries = 0
        var present: [(TenantID, Int)] = []
        var actual: [EntrySummary] = []
        let inventory = try storage.inventory()
        problems += inventory.strays
        for (tenant, generation) in inventory.entries {
            entries += 1
            present.append((tenant, generation))
            do {
                let (entry, entryPath) = try load(tenant, generation)
                let key = try dataKey(of: entry, path: entryPath)
                _ = try entry.openPayload(dataKey: key, file: entryPath)
                let metadata = try entry.openMetadata(dataKey: key, file: entryPath)
                actual.append(EntrySummary(tenant: tenant, generation: generation, created: UTCTime.dateTime(entry.header.created),
                                           kekID: Int(entry.kekID), metadata: metadata))
            } catch let error as CertVaultError {
                problems.append(error.reason)
            }
        }
        let (records, auditProblems) = audit.verify()
        problems += auditProblems.map { "audit.log: \($0)" }
        for missing in missingGenerations(present: present.map { ($0.0.rawValue, $0.1) }, records: records) {
            let digits = String(missing.generation)
            let file = "tenants/\(missing.tenant)/\(String(repeating: "0", count: max(0, 8 - digits.count)))\(digits).entry"
            problems.append("\(file): generation \(missing.generation) of tenant \(missing.tenant) is missing, deleted ("
                + missing.evidence.sorted().joined(separator: "; ") + "); restore it from a backup ('vault reindex' does not repair this)")
        }
        let (indexed, indexProblem) = index?.read() ?? ([], nil)
        if index == nil {
            // No index to compare (storage other than files).
        } else if let indexProblem {
            problems.append("index: \(indexProblem); run 'certvault vault reindex'")
        } else {
            let key = { (e: EntrySummary) in "\(e.tenant)/\(e.generation) \(e.kekID) \(e.metadata.status.rawValue) \(e.metadata.notAfter) \(e.metadata.thumbprintSHA1)" }
            let presentKeys = Set(actual.map { "\($0.tenant)/\($0.generation)" })
            let missing = Set(actual.map(key)).subtracting(indexed.map(key))
            // Lines for generations whose file is gone are reported above as deletions.
            let extra = Set(indexed.filter { presentKeys.contains("\($0.tenant)/\($0.generation)") }.map(key)).subtracting(actual.map(key))
            if !missing.isEmpty || !extra.isEmpty {
                problems.append("index: \(missing.count) entries missing or out of date, \(extra.count) listed that do not match an entry "
                    + "(an interrupted write or an edit); run 'certvault vault reindex'")
            }
        }
        return VerifyReport(entries: entries, auditRecords: records.count, problems: problems)
    }
}

/// The result of ``Vault/verify()``.
public struct VerifyReport: Sendable, Hashable, Codable {
    public let entries: Int
    public let auditRecords: Int
    public let problems: [String]
    public var intact: Bool { problems.isEmpty }
}
