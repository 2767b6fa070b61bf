public import CertVaultCore

#if canImport(Glibc)
internal import Glibc
#endif

extension Vault {
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

    /// Reads out a generation's secrets (PFX and password); the read is written to the audit log.
    ///
    /// - Parameter generation: nil for the newest active generation.
    ///
    /// One record and one fsync per read. A service reading for many callers at once uses a
    /// ``CredentialReader`` (``credentialReader(actor:)``): the same record, committed in groups.
    public func readOut(tenant: TenantID, generation: Int? = nil, purpose: String) throws -> (Int, EntryPayload, EntryMetadata) {
        let (chosen, payload, metadata) = try openForReadOut(tenant: tenant, generation: generation)
        try withLock { try audit.append(actor: actor, action: "entry.read", tenant: tenant.rawValue, generation: chosen, detail: purpose) }
        return (chosen, payload, metadata)
    }

    /// Decrypts a generation's secrets without auditing: only for read-outs that audit them
    /// before releasing them (``readOut(tenant:generation:purpose:)``, ``CredentialReader``).
    func openForReadOut(tenant: TenantID, generation: Int?) throws -> (Int, EntryPayload, EntryMetadata) {
        let chosen = try generation ?? newestActive(tenant)
        let (file, path) = try load(tenant, chosen)
        let dataKey = try dataKey(of: file, path: path)
        let payload = try file.openPayload(dataKey: dataKey, file: path)
        let metadata = try file.openMetadata(dataKey: dataKey, file: path)
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

    // MARK: Loading and indexing

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
}
