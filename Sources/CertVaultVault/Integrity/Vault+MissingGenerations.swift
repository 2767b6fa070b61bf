internal import CertVaultCore

extension Vault {
    /// A generation whose entry file is gone, and what knows of it.
    struct MissingGeneration: Hashable {
        let tenant: String
        let generation: Int
        var evidence: Set<String>
    }

    /// Generations that should exist but whose entry file does not: named by the index (read
    /// even when it lags its head or lacks lines, as long as its lines authenticate), created
    /// according to the audit log, or below a stored generation of the same tenant (numbers are
    /// consecutive from 1). A crash leaves the index behind the entries, never ahead, so each of
    /// these is a deletion.
    func missingGenerations(present: [(String, Int)], records: [AuditLog.Record]) -> [MissingGeneration] {
        struct Key: Hashable {
            let tenant: String
            let generation: Int
        }
        let existing = Set(present.map { Key(tenant: $0.0, generation: $0.1) })
        var missing: [Key: Set<String>] = [:]
        for entry in index?.readLines() ?? [] where !existing.contains(Key(tenant: entry.tenant.rawValue, generation: entry.generation)) {
            missing[Key(tenant: entry.tenant.rawValue, generation: entry.generation), default: []].insert("the index lists it")
        }
        var created: [Key: Int] = [:]
        for record in records where record.action == "entry.create" {
            guard let tenant = record.tenant, let generation = record.generation else { continue }
            let key = Key(tenant: tenant, generation: generation)
            created[key, default: 0] += 1
            if !existing.contains(key) { missing[key, default: []].insert("the audit log records its creation") }
        }
        for (key, count) in created where count > 1 && existing.contains(key) {
            missing[key, default: []].insert("the audit log records its creation \(count) times: an earlier one was deleted and its number reused")
        }
        var highest: [String: Int] = [:]
        for key in existing { highest[key.tenant] = max(highest[key.tenant] ?? 0, key.generation) }
        for (tenant, top) in highest {
            for generation in 1..<top where !existing.contains(Key(tenant: tenant, generation: generation)) {
                missing[Key(tenant: tenant, generation: generation), default: []].insert("a later generation exists")
            }
        }
        return missing.map { MissingGeneration(tenant: $0.key.tenant, generation: $0.key.generation, evidence: $0.value) }
            .sorted { ($0.tenant, $0.generation) < ($1.tenant, $1.generation) }
    }
}
