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
            try Vault.writeAtomically(updated.serialize(root: root), to: "\(path)/\(Keyring.fileName)", folder: path)
            keyring = updated
            try audit.append(actor: actor, action: "kek.add", detail: "KEK \(kek.id)")
            var count = 0
            for tenant in try tenants() {
                for generation in try generations(of: tenant) {
                    let (file, entryPath) = try load(tenant, generation)
                    guard file.kekID != kek.id else { continue }
                    let dataKey = try dataKey(of: file, path: entryPath)
                    try Vault.writeAtomically(file.rewrapped(dataKey: dataKey, kek: kek), to: entryPath, folder: tenantFolder(tenant))
                    let metadata = try file.openMetadata(dataKey: dataKey, file: entryPath)
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
        try Vault.writeAtomically(updated.serialize(root: root), to: "\(path)/\(Keyring.fileName)", folder: path)
        keyring = updated
        return unused.map(Int.init).sorted()
    }

    /// Rewraps the root key under a new passphrase; nothing else changes.
    public func changePassphrase(to source: SecretSource, parameters: Argon2Parameters = .default) throws {
        let passphrasePath = "\(path)/\(RootKey.passphraseFile)"
        guard FileManager.default.fileExists(atPath: passphrasePath) else {
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
            try Vault.writeAtomically(bytes, to: passphrasePath, folder: path)
            try audit.append(actor: actor, action: "vault.change-passphrase")
        }
    }
}
