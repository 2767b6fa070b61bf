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
            let metadata = EntryMetadata(notAfter: payload.facts.notAfter, thumbprintSHA1: payload.facts.thumbprintSHA1)
            // The storage claims the number (a new file by link(2); a row by its primary key): when
            // another writer took it first (another replica), the next one is tried.
            var generation = UInt32((try storage.generations(of: tenant).max() ?? 0) + 1)
            var attempts = 0
            while true {
                let header = EntryFile.Header(tenant: tenant, generation: generation, created: now)
                let bytes = try EntryFile.seal(header: header, payload: payload, metadata: metadata, kek: keyring.current)
                do {
                    try storage.createEntry(tenant: tenant, generation: Int(generation), bytes: bytes,
                                            sealedUnderKeyring: currentKeyringRevision)
                    break
                } catch let error as CertVaultError where error.code == .alreadyExists && attempts < 100 {
                    attempts += 1
                    generation = UInt32(max(Int(generation), (try storage.generations(of: tenant).max() ?? 0)) + 1)
                } catch let error as CertVaultError where error.code == .keyringChanged && attempts < 100 {
                    // Another replica rotated the KEK after this handle read the keyring: seal under the new one.
                    attempts += 1
                    try reloadKeyring()
                }
            }
            updateIndex([(EntrySummary(tenant: tenant, generation: Int(generation), created: UTCTime.dateTime(now),
                                            kekID: Int(keyring.current.id), metadata: metadata), now)])
            try audit.append(actor: actor, action: "entry.create", tenant: tenant.rawValue, generation: Int(generation),
                             detail: "thumbprint \(payload.facts.thumbprintSHA1)")
            return Int(generation)
        }
    }

    /// The generation numbers stored for a tenant, ascending.
    public func generations(of tenant: TenantID) throws -> [Int] {
        try storage.generations(of: tenant)
    }

    /// The generation a file name stands for: exactly 8 ASCII digits, ".entry", and at least 1.
    static func generation(fromFileName name: String) -> Int? { entryGeneration(fromFileName: name) }

    /// Every generation of one tenant, read from its own entry files (not the index), so the
    /// cost depends on that tenant's generations only, never on the size of the vault.
    public func list(tenant: TenantID) throws -> [EntrySummary] {
        try generations(of: tenant).map { try summary(tenant: tenant, generation: $0) }
    }

    /// The tenants that have at least one generation, sorted.
    public func tenants() throws -> [TenantID] {
        try storage.tenants()
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
        // Without an index (storage other than files), every entry's metadata is opened.
        guard let index else { return try scanEntries() }
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

    /// Every generation, read from the entries themselves (one query for all of them in PostgreSQL).
    func scanEntries() throws -> [EntrySummary] {
        try storage.allEntries().map { tenant, generation, bytes in
            let name = entryName(tenant, generation)
            let file = try checkedEntry(bytes, tenant: tenant, generation: generation, name: name)
            let metadata = try file.openMetadata(dataKey: try dataKey(of: file, path: name), file: name)
            return EntrySummary(tenant: tenant, generation: generation, created: UTCTime.dateTime(file.header.created),
                                kekID: Int(file.kekID), metadata: metadata)
        }
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
            // The KEK is looked up first: the change below runs inside the storage's critical section,
            // which must not call the storage again (to reload the keyring).
            let (loaded, _) = try load(tenant, generation)
            _ = try dataKey(of: loaded, path: entryName(tenant, generation))
            var outcome: (EntryFile, EntryMetadata, EntryMetadata)?
            let name = entryName(tenant, generation)
            let found = try storage.updateEntry(tenant: tenant, generation: generation) { bytes in
                let file = try checkedEntry(bytes, tenant: tenant, generation: generation, name: name)
                let dataKey = try file.dataKey(keyring: keyring, file: name)
                var metadata = try file.openMetadata(dataKey: dataKey, file: name)
                let before = metadata
                try change(&metadata)
                guard metadata != before else { return nil }
                outcome = (file, before, metadata)
                return try file.replacingMetadata(metadata, dataKey: dataKey)
            }
            guard found else { throw notStored(tenant, generation) }
            guard let (file, before, metadata) = outcome else { return }
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
    ///
    /// - Returns: the entry and its name for messages (its file's path, or its row).
    func load(_ tenant: TenantID, _ generation: Int) throws -> (EntryFile, String) {
        let name = entryName(tenant, generation)
        guard let bytes = try storage.readEntry(tenant: tenant, generation: generation) else { throw notStored(tenant, generation) }
        return (try checkedEntry(bytes, tenant: tenant, generation: generation, name: name), name)
    }

    func notStored(_ tenant: TenantID, _ generation: Int) -> CertVaultError {
        CertVaultError(.notFound, "Tenant '\(tenant)' has no generation \(generation) in the vault.",
                       hint: "Run 'certvault list' to see what is stored.")
    }

    /// Parses an entry's bytes and checks that its header names the tenant and generation it is stored as.
    func checkedEntry(_ bytes: [UInt8], tenant: TenantID, generation: Int, name: String) throws -> EntryFile {
        let file = try EntryFile.parse(bytes, file: name)
        guard file.header.tenant == tenant, Int(file.header.generation) == generation else {
            throw VaultError.authentication(name, "its header names tenant '\(file.header.tenant)' generation \(file.header.generation)")
        }
        return file
    }

    /// Appends to the index, never failing the operation: the entry is already in place and is
    /// the authority. A failed append leaves the index behind, which `list` notices (it falls
    /// back to opening the entries) and `vault verify` reports; `vault reindex` repairs it.
    func updateIndex(_ items: [(EntrySummary, Int64)]) {
        guard let index else { return }
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
