public import CertVaultCore
internal import Foundation

extension Vault {
    // MARK: Key management

    /// The result of a KEK rotation.
    public struct RotationReport: Sendable, Hashable, Codable {
        /// The new KEK's id.
        public let newKEK: Int
        /// Entries whose data key was rewrapped.
        public let rewrapped: Int
        /// KEK ids removed because no entry uses them any more.
        public let retiredKEKs: [Int]
    }

    /// Adds a new KEK version, rewraps every entry's data key with it (payloads are not
    /// touched), then removes the KEKs nothing uses any more.
    ///
    /// A crash part-way leaves every entry readable (each names the KEK that wraps it, and old
    /// KEKs stay in the keyring until no entry uses them); running it again finishes the job.
    public func rotateKEK(now: Int64? = nil) throws -> RotationReport {
        try withLock {
            var updated = keyring
            let kek = updated.addVersion(now: now ?? UTCTime.now())
            try writeKeyring(updated)
            try audit.append(actor: actor, action: "kek.add", detail: "KEK \(kek.id)")
            var count = 0
            for tenant in try tenants() {
                for generation in try generations(of: tenant) {
                    let (loaded, entryPath) = try load(tenant, generation)
                    guard loaded.kekID != kek.id else { continue }
                    _ = try dataKey(of: loaded, path: entryPath)
                    // Read, rewrap and write in the storage's critical section: a metadata change
                    // by another replica in between is not lost.
                    var rewrapped: (EntryFile, EntryMetadata)?
                    try storage.updateEntry(tenant: tenant, generation: generation) { bytes in
                        let file = try checkedEntry(bytes, tenant: tenant, generation: generation, name: entryPath)
                        guard file.kekID != kek.id else { return nil }
                        let dataKey = try file.dataKey(keyring: keyring, file: entryPath)
                        rewrapped = (file, try file.openMetadata(dataKey: dataKey, file: entryPath))
                        return file.rewrapped(dataKey: dataKey, kek: kek)
                    }
                    guard let (file, metadata) = rewrapped else { continue }
                    updateIndex([(EntrySummary(tenant: tenant, generation: generation, created: UTCTime.dateTime(file.header.created),
                                                    kekID: Int(kek.id), metadata: metadata), file.header.created)])
                    count += 1
                }
            }
            let retired = try retireUnusedKEKs()
            try audit.append(actor: actor, action: "kek.rotate", detail: "rewrapped \(count) entries; retired KEKs \(retired.map(String.init).joined(separator: ",").isEmpty ? "none" : retired.map(String.init).joined(separator: ","))")
            return RotationReport(newKEK: Int(kek.id), rewrapped: count, retiredKEKs: retired)
        }
    }

    /// KEK ids in the keyring and how many entries each wraps.
    public func kekUsage() throws -> [Int: Int] {
        var usage = Dictionary(uniqueKeysWithValues: keyring.records.map { (Int($0.id), 0) })
        for tenant in try tenants() {
            for generation in try generations(of: tenant) {
                usage[Int(try load(tenant, generation).0.kekID), default: 0] += 1
            }
        }
        return usage
    }

    private func retireUnusedKEKs() throws -> [Int] {
        let usage = try kekUsage()
        let unused = Set(usage.filter { $0.value == 0 && UInt32($0.key) != keyring.current.id }.map { UInt32($0.key) })
        guard !unused.isEmpty else { return [] }
        var updated = keyring
        updated.remove(ids: unused)
        try writeKeyring(updated)
        return unused.map(Int.init).sorted()
    }

    /// Rewraps the root key under a new passphrase; nothing else changes.
    public func changePassphrase(to source: SecretSource, parameters: Argon2Parameters = .default) throws {
        guard try storage.blobRevision(.rootPassphrase) != nil else {
            throw CertVaultError(.vaultLocked, "The vault at '\(path)' uses a key file, not a passphrase.",
                                 hint: "Keep the key file safe; a key-file vault has no passphrase to change.")
        }
        let passphrase = try source.read()
        guard passphrase.count >= 12 else {
            throw CertVaultError(.invalidPassword, "The new passphrase from \(source) is shorter than 12 characters.",
                                 hint: "Choose a longer passphrase; the old one still works.")
        }
        let bytes = try RootKey.wrap(root, passphrase: passphrase, parameters: parameters)
        try withLock {
            try storage.replaceBlob(.rootPassphrase, bytes: bytes, expectedRevision: nil)
            try audit.append(actor: actor, action: "vault.change-passphrase")
        }
    }
}
