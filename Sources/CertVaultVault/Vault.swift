public import CertVaultCore
internal import Foundation

#if canImport(Glibc)
internal import Glibc
#endif

/// An encrypted file vault that keeps every certificate generation of every tenant.
///
/// Layout of the vault folder (0700; every file 0600), byte formats in docs/vault-format.md:
///
/// | path | content |
/// | --- | --- |
/// | `root.passphrase` | the root key wrapped under a passphrase (only in passphrase mode) |
/// | `keyring` | the key-encryption keys, sealed under the root key |
/// | `tenants/<tenant>/<generation>.entry` | one file per generation, generation as 8 digits |
/// | `audit.log`, `audit.head` | the authenticated audit log and its head |
/// | `lock` | taken with `flock` by writers |
///
/// Writers take the lock, so two processes cannot both create generation N; readers need no
/// lock because every file is written to a temporary name, fsynced and renamed into place.
public final class Vault {
    /// The vault folder.
    public let path: String
    let root: SecretBytes
    private(set) var keyring: Keyring
    let audit: AuditLog
    let index: EntryIndex
    let actor: String

    /// Set by ``list()`` when the index could not be used and every entry was opened instead,
    /// and by writes when the index could not be updated.
    public private(set) var indexWarning: String?

    /// Called with a warning when something went wrong that does not fail the operation (the
    /// index could not be updated after an entry was stored). The command line prints it.
    public var onWarning: ((String) -> Void)?

    /// Set when an index write failed, so that the warning is given once per handle.
    private var indexWriteFailed = false

    /// The lock file, opened once per vault handle; writers take `flock` on it.
    private var lockFD: Int32 = -1

    /// Identifies the keyring file this handle last read.
    private var keyringStamp: [Int]?

    deinit {
        if lockFD >= 0 { close(lockFD) }
    }

    private init(path: String, root: SecretBytes, keyring: Keyring, actor: String) {
        self.path = path
        self.root = root
        self.keyring = keyring
        self.audit = AuditLog(folder: path, root: root)
        self.index = EntryIndex(folder: path, root: root)
        self.actor = actor
    }

    /// The OS user running this process, for the audit log.
    public static var currentUser: String {
        if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return "uid \(geteuid())"
    }

    // MARK: Creating and opening

    /// Creates a new vault with a fresh root key and a first KEK.
    ///
    /// - Throws: ``CertVaultError`` `vault-missing` when a vault already exists at `path`,
    ///   `already-exists` when the key file exists, and the errors of reading the passphrase.
    public static func create(at path: String, protection: RootKeyProtection, actor: String = Vault.currentUser,
                              now: Int64? = nil) throws -> Vault {
        let now = now ?? UTCTime.now()
        if FileManager.default.fileExists(atPath: "\(path)/\(Keyring.fileName)") {
            throw CertVaultError(.vaultMissing, "A vault already exists at '\(path)'.",
                                 hint: "Use it, or choose another folder with --vault.")
        }
        let root = RootKey.generate()
        var passphraseFile: [UInt8]?
        switch protection {
        case .keyFile(let keyPath):
            if FileManager.default.fileExists(atPath: keyPath) {
                throw CertVaultError(.alreadyExists, "The key file '\(keyPath)' already exists; certvault never overwrites a key.",
                                     hint: "Choose another --key-file, or move the old one away if it belongs to no vault.")
            }
        case .passphrase(let source, let parameters):
            let passphrase = try source.read()
            guard passphrase.count >= 12 else {
                throw CertVaultError(.invalidPassword, "The passphrase from \(source) is shorter than 12 characters.",
                                     hint: "Choose a longer passphrase.")
            }
            passphraseFile = try RootKey.wrap(root, passphrase: passphrase, parameters: parameters)
        }
        try PrivateFiles.makePrivateDirectory(path, exposure: .privateOnly)
        try PrivateFiles.makePrivateDirectory("\(path)/tenants", exposure: .privateOnly)
        if case .keyFile(let keyPath) = protection { try RootKey.writeKeyFile(root, to: keyPath) }
        if let passphraseFile {
            try writeAtomically(passphraseFile, to: "\(path)/\(RootKey.passphraseFile)", folder: path, replace: false)
        }
        let keyring = Keyring.new(now: now)
        // link(2): if another `init` got here first, this one fails instead of replacing its keyring.
        try writeAtomically(keyring.serialize(root: root), to: "\(path)/\(Keyring.fileName)", folder: path, replace: false)
        let vault = Vault(path: path, root: root, keyring: keyring, actor: actor)
        try vault.index.rewrite([])
        try vault.withLock {
            let mode: String = if case .keyFile = protection { "key file" } else { "passphrase" }
            try vault.audit.append(actor: actor, action: "vault.init", detail: "root key in \(mode); KEK 1")
        }
        return vault
    }

    /// True when `path` holds a vault (its keyring exists).
    public static func exists(at path: String) -> Bool {
        FileManager.default.fileExists(atPath: "\(path)/\(Keyring.fileName)")
    }

    /// Opens a vault with its key file or passphrase.
    ///
    /// - Throws: ``CertVaultError`` `vault-missing`, `vault-locked` (wrong key or passphrase; nothing
    ///   changes on disk), `insecure-permissions`, `vault-corrupt`.
    public static func open(at path: String, unlock: RootKeyProtection, actor: String = Vault.currentUser) throws -> Vault {
        let keyringPath = "\(path)/\(Keyring.fileName)"
        guard FileManager.default.fileExists(atPath: keyringPath) else {
            throw CertVaultError(.vaultMissing, "There is no vault at '\(path)'.",
                                 hint: "Create one with 'certvault init', or point --vault (or CERTVAULT_VAULT) at an existing one.")
        }
        try PrivateFiles.checkPrivateFolder(path, what: "The vault folder")
        let passphrasePath = "\(path)/\(RootKey.passphraseFile)"
        let root: SecretBytes
        switch unlock {
        case .keyFile(let keyPath):
            if FileManager.default.fileExists(atPath: passphrasePath) {
                throw CertVaultError(.vaultLocked, "The vault at '\(path)' is protected by a passphrase, not a key file.",
                                     hint: "Give the passphrase with --passphrase-file, --passphrase-fd, --passphrase-stdin or --passphrase-env.")
            }
            root = try RootKey.readKeyFile(keyPath)
        case .passphrase(let source, _):
            let bytes: [UInt8]
            do {
                bytes = try readFile(passphrasePath, limit: 4096)
            } catch let error as CertVaultError where error.code == .notFound {
                throw CertVaultError(.vaultLocked, "The vault at '\(path)' has no passphrase; it is opened with its key file.",
                                     hint: "Give the key file with --key-file (or CERTVAULT_KEY_FILE).")
            }
            root = try RootKey.unwrap(bytes, passphrase: try source.read(), file: passphrasePath)
        }
        return try open(at: path, root: root, actor: actor)
    }

    /// Opens a vault whose root key is already unwrapped (after a restore).
    static func open(at path: String, root: SecretBytes, actor: String) throws -> Vault {
        let keyringPath = "\(path)/\(Keyring.fileName)"
        let stamp = fileStamp(keyringPath)
        let keyring = try Keyring.parse(try readFile(keyringPath, limit: 1 << 20), root: root, file: keyringPath)
        let vault = Vault(path: path, root: root, keyring: keyring, actor: actor)
        vault.keyringStamp = stamp
        return vault
    }

    /// Reads the keyring again: another process may have rotated the KEK since this handle
    /// opened. Every writer calls it under the lock, so it never wraps with a stale KEK or
    /// writes back a keyring that lost another writer's KEK.
    func reloadKeyring() throws {
        let keyringPath = "\(path)/\(Keyring.fileName)"
        let stamp = Vault.fileStamp(keyringPath)
        keyring = try Keyring.parse(try Vault.readFile(keyringPath, limit: 1 << 20), root: root, file: keyringPath)
        keyringStamp = stamp
    }

    /// Reloads the keyring only if its file changed (every change renames a new file into
    /// place, so the inode changes).
    func reloadKeyringIfChanged() throws {
        let stamp = Vault.fileStamp("\(path)/\(Keyring.fileName)")
        if stamp == nil || stamp != keyringStamp { try reloadKeyring() }
    }

    /// Device, inode, size and change time of a file, or nil.
    static func fileStamp(_ path: String) -> [Int]? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return [Int(info.st_dev), Int(info.st_ino), Int(info.st_size), Int(info.st_ctim.tv_sec), Int(info.st_ctim.tv_nsec)]
    }

    /// The data key of an entry; reloads the keyring once if the entry names a KEK this handle
    /// has not seen (another process rotated in the meantime).
    func dataKey(of file: EntryFile, path: String) throws -> SecretBytes {
        if keyring.key(id: file.kekID) == nil { try reloadKeyring() }
        return try file.dataKey(keyring: keyring, file: path)
    }

    // MARK: Entries

    /// Stores a new generation for `tenant` (the next number after the highest present) and
    /// returns its number. An existing generation is never replaced.
    public func store(tenant: TenantID, payload: EntryPayload, now: Int64? = nil) throws -> Int {
        let now = now ?? UTCTime.now()
        return try withLock {
            let folder = tenantFolder(tenant)
            // One mkdir tells whether the tenant is new; an existing folder is then checked.
            var isNew = Glibc.mkdir(folder, 0o700) == 0
            if !isNew {
                let existed = errno == EEXIST
                try PrivateFiles.makePrivateDirectory(folder, exposure: .privateOnly)
                isNew = !existed
            }
            // A new tenant folder must survive a power cut together with its first entry.
            if isNew { try PrivateFiles.syncDirectory("\(path)/tenants") }
            let names = PrivateFiles.names(in: folder)
            removeTemporaryFiles(names.filter(Vault.isTemporaryName), in: folder)
            let generation = UInt32((names.compactMap(Vault.generation(fromFileName:)).max() ?? 0) + 1)
            let header = EntryFile.Header(tenant: tenant, generation: generation, created: now)
            let metadata = EntryMetadata(notAfter: payload.facts.notAfter, thumbprintSHA1: payload.facts.thumbprintSHA1)
            let bytes = try EntryFile.seal(header: header, payload: payload, metadata: metadata, kek: keyring.current)
            try Vault.writeAtomically(bytes, to: entryPath(tenant, Int(generation)), folder: folder, replace: false)
            updateIndex([(EntrySummary(tenant: tenant, generation: Int(generation), created: UTCTime.dateTime(now),
                                            kekID: Int(keyring.current.id), metadata: metadata), now)])
            try audit.append(actor: actor, action: "entry.create", tenant: tenant.rawValue, generation: Int(generation),
                             detail: "thumbprint \(payload.facts.thumbprintSHA1)")
            return Int(generation)
        }
    }

    /// The generation numbers stored for a tenant, ascending.
    public func generations(of tenant: TenantID) throws -> [Int] {
        return PrivateFiles.names(in: tenantFolder(tenant)).compactMap(Vault.generation(fromFileName:)).sorted()
    }

    /// The generation a file name stands for: exactly 8 ASCII digits, ".entry", and at least 1.
    static func generation(fromFileName name: String) -> Int? {
        let bytes = Array(name.utf8)
        guard bytes.count == 14, name.hasSuffix(".entry"),
            bytes.prefix(8).allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            let value = Int(String(decoding: bytes.prefix(8), as: UTF8.self)), value >= 1
        else { return nil }
        return value
    }

    /// Every generation of one tenant, read from its own entry files (not the index), so the
    /// cost depends on that tenant's generations only, never on the size of the vault.
    public func list(tenant: TenantID) throws -> [EntrySummary] {
        try generations(of: tenant).map { try summary(tenant: tenant, generation: $0) }
    }

    /// The tenants that have at least one generation, sorted.
    public func tenants() throws -> [TenantID] {
        return PrivateFiles.names(in: "\(path)/tenants").compactMap { try? TenantID($0) }.filter { (try? generations(of: $0).isEmpty) == false }.sorted()
    }

    /// A stored generation's facts, status and VB365 fields, without reading out its secrets.
    public func summary(tenant: TenantID, generation: Int) throws -> EntrySummary {
        let (file, path) = try load(tenant, generation)
        let metadata = try file.openMetadata(dataKey: try dataKey(of: file, path: path), file: path)
        return EntrySummary(tenant: tenant, generation: generation, created: UTCTime.dateTime(file.header.created),
                            kekID: Int(file.kekID), metadata: metadata)
    }

    /// Every generation of every tenant, from the index (status, expiry, thumbprint, KEK).
    ///
    /// When the index is missing, fails its checks, does not end where `index.head` says, or
    /// lacks a tenant that has entries (an index write that failed), every entry is opened
    /// instead and ``indexWarning`` says why; `certvault vault reindex` rebuilds it.
    public func list() throws -> [EntrySummary] {
        var (entries, problem) = index.read()
        if problem == nil {
            let unindexed = tenantsMissing(from: entries)
            if !unindexed.isEmpty {
                problem = "it lacks tenant\(unindexed.count == 1 ? "" : "s") \(unindexed.prefix(5).joined(separator: ", "))"
                    + "\(unindexed.count > 5 ? " and \(unindexed.count - 5) more" : ""), whose entries exist"
            }
        }
        indexWarning = problem.map { "The vault index cannot be used (\($0)); every entry was opened instead. Run 'certvault vault reindex'." }
        return problem == nil ? entries : try scanEntries()
    }

    /// Tenant folders with entries that the index does not name. One `stat` when the folder's
    /// link count shows as many sub-folders as the index has tenants; a listing otherwise.
    func tenantsMissing(from entries: [EntrySummary]) -> [String] {
        var known = Set<String>()
        for entry in entries { known.insert(entry.tenant.rawValue) }
        var info = stat()
        if stat("\(path)/tenants", &info) == 0, info.st_nlink >= 2, Int(info.st_nlink) - 2 == known.count { return [] }
        return PrivateFiles.names(in: "\(path)/tenants").filter { name in
            guard !known.contains(name), let tenant = try? TenantID(name) else { return false }
            return (try? generations(of: tenant).isEmpty) == false
        }.sorted()
    }

    /// Every generation, read from the entry files themselves.
    func scanEntries() throws -> [EntrySummary] {
        try tenants().flatMap { tenant in try generations(of: tenant).map { try summary(tenant: tenant, generation: $0) } }
    }

    /// Rebuilds the index from the entry files.
    ///
    /// - Returns: the number of entries indexed.
    public func reindex() throws -> Int { try rebuildIndex().entries }

    /// Rebuilds the index from the entry files, and reports generations that are missing.
    ///
    /// A missing generation (one the old index, the audit log or the numbering knows, whose
    /// file is gone) is not repaired by this: it is named in the `vault.reindex` audit record,
    /// returned here, and `vault verify` keeps reporting it from the audit log.
    public func rebuildIndex() throws -> ReindexReport {
        try withLock {
            let entries = try scanEntries()
            let missing = missingGenerations(present: entries.map { ($0.tenant.rawValue, $0.generation) }, records: audit.verify().records)
            try index.rewrite(try entries.map { ($0, try load($0.tenant, $0.generation).0.header.created) })
            let names = missing.map { "\($0.tenant)/\($0.generation)" }
            try audit.append(actor: actor, action: "vault.reindex", detail: "\(entries.count) entries"
                + (names.isEmpty ? "" : "; missing (deleted) generations: \(names.joined(separator: ", "))"))
            return ReindexReport(entries: entries.count, missing: names)
        }
    }

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
        for entry in index.readLines() where !existing.contains(Key(tenant: entry.tenant.rawValue, generation: entry.generation)) {
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

    /// Reads out a generation's secrets (PFX and password); the read is written to the audit log.
    ///
    /// - Parameter generation: nil for the newest active generation.
    public func readOut(tenant: TenantID, generation: Int? = nil, purpose: String) throws -> (Int, EntryPayload, EntryMetadata) {
        let chosen = try generation ?? newestActive(tenant)
        let (file, path) = try load(tenant, chosen)
        let dataKey = try dataKey(of: file, path: path)
        let payload = try file.openPayload(dataKey: dataKey, file: path)
        let metadata = try file.openMetadata(dataKey: dataKey, file: path)
        try withLock { try audit.append(actor: actor, action: "entry.read", tenant: tenant.rawValue, generation: chosen, detail: purpose) }
        return (chosen, payload, metadata)
    }

    /// Changes a generation's metadata (status, VB365 fields); the payload is not touched.
    public func updateMetadata(tenant: TenantID, generation: Int, action: String, _ change: (inout EntryMetadata) throws -> Void) throws {
        try withLock {
            let (file, path) = try load(tenant, generation)
            let dataKey = try dataKey(of: file, path: path)
            var metadata = try file.openMetadata(dataKey: dataKey, file: path)
            let before = metadata
            try change(&metadata)
            guard metadata != before else { return }
            try Vault.writeAtomically(try file.replacingMetadata(metadata, dataKey: dataKey), to: path, folder: tenantFolder(tenant), replace: true)
            updateIndex([(EntrySummary(tenant: tenant, generation: generation, created: UTCTime.dateTime(file.header.created),
                                            kekID: Int(file.kekID), metadata: metadata), file.header.created)])
            try audit.append(actor: actor, action: action, tenant: tenant.rawValue, generation: generation,
                             detail: before.status != metadata.status ? "status \(before.status.rawValue) -> \(metadata.status.rawValue)" : "metadata")
        }
    }

    /// Opens every entry (header, data key, payload, metadata) and the audit log.
    ///
    /// - Returns: what was checked and every problem found; an empty problem list means intact.
    public func verify() throws -> VerifyReport {
        var problems: [String] = []
        var entries = 0
        var present: [(TenantID, Int)] = []
        var actual: [EntrySummary] = []
        let tenantsFolder = "\(path)/tenants"
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: tenantsFolder)) ?? []).sorted() {
            guard let tenant = try? TenantID(name) else {
                problems.append("tenants/\(name): not a valid tenant folder name")
                continue
            }
            for file in ((try? FileManager.default.contentsOfDirectory(atPath: tenantFolder(tenant))) ?? []).sorted() {
                if file.hasPrefix(".tmp-") { continue }
                guard let generation = Vault.generation(fromFileName: file) else {
                    problems.append("tenants/\(name)/\(file): not an entry file name")
                    continue
                }
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
        }
        let (records, auditProblems) = audit.verify()
        problems += auditProblems.map { "audit.log: \($0)" }
        for missing in missingGenerations(present: present.map { ($0.0.rawValue, $0.1) }, records: records) {
            let digits = String(missing.generation)
            let file = "tenants/\(missing.tenant)/\(String(repeating: "0", count: max(0, 8 - digits.count)))\(digits).entry"
            problems.append("\(file): generation \(missing.generation) of tenant \(missing.tenant) is missing, deleted ("
                + missing.evidence.sorted().joined(separator: "; ") + "); restore it from a backup ('vault reindex' does not repair this)")
        }
        let (indexed, indexProblem) = index.read()
        if let indexProblem {
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

    /// The audit log's records and any problem with them.
    public func auditRecords() -> (records: [AuditLog.Record], problems: [String]) { audit.verify() }

    // MARK: Leftovers of interrupted writes

    /// Temporary files of the vault's own writes: `.tmp-*` (entries, keyring, index, passphrase)
    /// and `.audit.head.tmp*`. Every writer makes them under the vault lock, so a process that
    /// holds the lock knows that any it finds belong to a writer that died.
    static func isTemporaryName(_ name: String) -> Bool { name.hasPrefix(".tmp-") || name.hasPrefix(".audit.head.tmp") }

    /// Shreds temporary files left by a killed writer; the caller holds the vault lock.
    func removeTemporaryFiles(_ names: [String], in folder: String) {
        guard !names.isEmpty else { return }
        let removed = names.filter { Leftovers.shred("\(folder)/\($0)") }
        if !removed.isEmpty { try? PrivateFiles.syncDirectory(folder) }
        Leftovers.note(removed, in: folder, what: "temporary file(s)")
    }

    /// Removes everything interrupted runs left: temporary files in the vault folder and in every
    /// tenant folder (under the vault lock, so no live writer's file is touched), and abandoned
    /// restore staging folders beside the vault (unlocked and older than a few seconds; see
    /// ``Leftovers``). Each file is overwritten before it is deleted.
    ///
    /// - Returns: the paths removed, relative to the vault's parent folder for staging folders
    ///   and to the vault folder otherwise.
    public func removeLeftovers() throws -> [String] {
        try withLock {
            var removed: [String] = []
            for (folder, relative) in [(path, "")] + PrivateFiles.names(in: "\(path)/tenants").sorted().map({ ("\(path)/tenants/\($0)", "tenants/\($0)/") }) {
                let names = PrivateFiles.names(in: folder).filter(Vault.isTemporaryName).sorted()
                removeTemporaryFiles(names, in: folder)
                removed += names.filter { !FileManager.default.fileExists(atPath: "\(folder)/\($0)") }.map { relative + $0 }
            }
            let parent = RootKey.parentFolder(of: path)
            let staging = Leftovers.sweep(parent, matching: { $0.hasPrefix(".staging-restore-") })
            Leftovers.note(staging, in: parent, what: "unfinished restore folder(s)")
            return removed + staging.map { "../" + $0 }
        }
    }

    // MARK: Helpers

    func tenantFolder(_ tenant: TenantID) -> String { "\(path)/tenants/\(tenant.rawValue)" }

    func entryPath(_ tenant: TenantID, _ generation: Int) -> String {
        let digits = String(generation)
        return "\(tenantFolder(tenant))/\(String(repeating: "0", count: max(0, 8 - digits.count)) + digits).entry"
    }

    func newestActive(_ tenant: TenantID) throws -> Int {
        for generation in try generations(of: tenant).reversed()
        where try summary(tenant: tenant, generation: generation).metadata.status == .active {
            return generation
        }
        throw CertVaultError(.notFound, "Tenant '\(tenant)' has no active generation in the vault.",
                             hint: "Run 'certvault list' to see its generations; pass --generation N to read a retired one.")
    }

    /// Reads and parses an entry, checking that its header matches where it is stored.
    func load(_ tenant: TenantID, _ generation: Int) throws -> (EntryFile, String) {
        let path = entryPath(tenant, generation)
        let bytes: [UInt8]
        do {
            bytes = try Vault.readFile(path)
        } catch let error as CertVaultError where error.code == .notFound {
            throw CertVaultError(.notFound, "Tenant '\(tenant)' has no generation \(generation) in the vault.",
                                 hint: "Run 'certvault list' to see what is stored.")
        }
        let file = try EntryFile.parse(bytes, file: path)
        guard file.header.tenant == tenant, Int(file.header.generation) == generation else {
            throw VaultError.authentication(path, "its header names tenant '\(file.header.tenant)' generation \(file.header.generation)")
        }
        return (file, path)
    }

    /// Appends to the index, never failing the operation: the entry is already in place and is
    /// the authority. A failed append leaves the index behind, which `list` notices (it falls
    /// back to opening the entries) and `vault verify` reports; `vault reindex` repairs it.
    func updateIndex(_ items: [(EntrySummary, Int64)]) {
        do {
            try index.append(items)
        } catch {
            // Without its head the index is not trusted, so `list` opens the entries instead of
            // omitting this one; the tenant-folder check in `list` covers a head that stays.
            index.invalidate()
            let reason = (error as? CertVaultError).map { $0.reason + ($0.underlying.map { " \($0)" } ?? "") } ?? "\(error)"
            let warning = "The vault index could not be updated (\(reason)); the entry is stored, and 'list' opens every entry "
                + "until you run 'certvault vault reindex'."
            // Once per handle: a KEK rotation appends one line per entry.
            if !indexWriteFailed { onWarning?(warning) }
            indexWriteFailed = true
            indexWarning = warning
        }
    }

    @discardableResult
    func withLock<T>(_ body: () throws -> T) throws -> T {
        if lockFD < 0 {
            lockFD = Glibc.open("\(path)/lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard lockFD >= 0 else { throw CertVaultError(.fileSystem, "Cannot open the vault lock.", underlying: PrivateFiles.errnoText()) }
        }
        let fd = lockFD
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw CertVaultError(.fileSystem, "Cannot lock the vault.", underlying: PrivateFiles.errnoText()) }
        }
        defer { flock(fd, LOCK_UN) }
        if Vault.exists(at: path) { try reloadKeyringIfChanged() }
        return try body()
    }

    /// Reads a whole file, refusing one larger than `limit` (entries are a few KiB), and
    /// anything but a regular file: `O_NONBLOCK` keeps a FIFO planted in a file's place from
    /// blocking the open, and the descriptor is checked before anything is read.
    static func readFile(_ path: String, limit: Int = 64 << 20) throws -> [UInt8] {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            let missing = errno == ENOENT
            throw CertVaultError(missing ? .notFound : .fileSystem, "Cannot read '\(path)'.",
                                 hint: "Check that it exists and that you may read it.", underlying: PrivateFiles.errnoText())
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw CertVaultError(.fileSystem, "'\(path)' is not a regular file (a FIFO, device or folder is in its place).",
                                 hint: "Move it away and put the file back from a backup; certvault reads only regular files here.")
        }
        guard info.st_size <= limit else {
            throw VaultError.corrupt(path, "it is \(info.st_size) bytes, more than the \(limit) a file of its kind can be")
        }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var done = 0
        while done < bytes.count {
            let got = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + done, $0.count - done) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { throw CertVaultError(.fileSystem, "Cannot read '\(path)'.", underlying: PrivateFiles.errnoText()) }
            done += got
        }
        return bytes
    }

    /// Temporary file (exclusive, 0600), write, fsync, rename (never over an existing file
    /// unless `replace`), fsync the folder.
    static func writeAtomically(_ bytes: [UInt8], to path: String, folder: String, replace: Bool = true) throws {
        // A temporary name is no secret: random bytes straight from libsodium, not through secure memory.
        let temporary = "\(folder)/.tmp-\(Hex.lower(Array(AEAD.nonce().prefix(8))))"
        do {
            try PrivateFiles.writeNewFile(temporary, bytes: bytes)
            if replace {
                guard rename(temporary, path) == 0 else {
                    throw CertVaultError(.fileSystem, "Cannot rename into '\(path)'.", underlying: PrivateFiles.errnoText())
                }
            } else {
                // link() fails if the name exists: the generation can never be replaced.
                guard link(temporary, path) == 0 else {
                    let exists = errno == EEXIST
                    throw CertVaultError(exists ? .alreadyExists : .fileSystem, "Cannot create '\(path)'.",
                                         hint: exists ? "Another writer created it first; nothing was replaced." : nil,
                                         underlying: PrivateFiles.errnoText())
                }
                unlink(temporary)
            }
            try PrivateFiles.syncDirectory(folder)
        } catch {
            unlink(temporary)
            throw error
        }
    }
}

/// A generation as `list` and `show` report it; no secrets.
public struct EntrySummary: Sendable, Hashable, Codable {
    public let tenant: TenantID
    public let generation: Int
    public let created: String
    public let kekID: Int
    public let metadata: EntryMetadata
}

/// The result of ``Vault/rebuildIndex()``.
public struct ReindexReport: Sendable, Hashable, Codable {
    /// Entries now in the index.
    public let entries: Int
    /// Generations known to exist (index, audit log, numbering) whose files are gone, as `tenant/generation`.
    public let missing: [String]
}

/// The result of ``Vault/verify()``.
public struct VerifyReport: Sendable, Hashable, Codable {
    public let entries: Int
    public let auditRecords: Int
    public let problems: [String]
    public var intact: Bool { problems.isEmpty }
}
