public import CertVaultCore
internal import Foundation

#if canImport(Glibc)
internal import Glibc
#endif

/// The vault folder (the default storage): the layout ``Vault`` has always written, byte for byte.
///
/// | path | content |
/// | --- | --- |
/// | `root.passphrase` | ``VaultBlob/rootPassphrase`` |
/// | `keyring` | ``VaultBlob/keyring`` |
/// | `tenants/<tenant>/<generation>.entry` | one file per generation, generation as 8 digits |
/// | `audit.log`, `audit.head` | the audit log's lines and head |
/// | `index`, `index.head` | the MACed index ``Vault`` keeps beside the entries (file backend only) |
/// | `lock` | taken with `flock` by writers |
///
/// Every file is written to a temporary name, fsynced and renamed (or linked, for files that
/// are never replaced) into place, so readers need no lock.
public final class FileVaultStorage: VaultStorage, @unchecked Sendable {
    /// The vault folder.
    public let path: String
    /// The lock file, opened once per storage object; writers take `flock` on it.
    private var lockFD: Int32 = -1
    private let descriptorLock = NSLock()

    /// The vault folder at `path` (it need not exist yet: ``Vault/create(storage:protection:actor:now:)`` makes it).
    public init(path: String) {
        self.path = path
    }

    deinit {
        if lockFD >= 0 { close(lockFD) }
    }

    public var location: String { path }

    public func describe(_ relative: String) -> String { "\(path)/\(relative)" }

    public func anotherHandle() throws -> any VaultStorage { FileVaultStorage(path: path) }

    public func exists() throws -> Bool { FileManager.default.fileExists(atPath: file(VaultBlob.keyring.rawValue)) }

    public func prepareForCreate() throws {
        try PrivateFiles.makePrivateDirectory(path, exposure: .privateOnly)
        try PrivateFiles.makePrivateDirectory("\(path)/tenants", exposure: .privateOnly)
    }

    public func checkBeforeOpen() throws {
        try PrivateFiles.checkPrivateFolder(path, what: "The vault folder")
    }

    func file(_ relative: String) -> String { "\(path)/\(relative)" }

    func tenantFolder(_ tenant: TenantID) -> String { "\(path)/tenants/\(tenant.rawValue)" }

    func entryPath(_ tenant: TenantID, _ generation: Int) -> String {
        file(FileVaultStorage.entryFileName(tenant: tenant, generation: generation))
    }

    // MARK: Lock

    public func withLock<T>(_ body: () throws -> T) throws -> T {
        let fd: Int32 = try descriptorLock.withLock {
            if lockFD < 0 {
                lockFD = Glibc.open(file("lock"), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
                guard lockFD >= 0 else {
                    throw CertVaultError(.fileSystem, "Cannot open the vault lock.", underlying: PrivateFiles.errnoText())
                }
            }
            return lockFD
        }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw CertVaultError(.fileSystem, "Cannot lock the vault.", underlying: PrivateFiles.errnoText()) }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    // MARK: Blobs

    public func readBlob(_ blob: VaultBlob) throws -> StoredBlob? {
        let name = file(blob.rawValue)
        let stamp = Vault.fileStamp(name)
        do {
            return StoredBlob(bytes: try Vault.readFile(name, limit: 1 << 20), revision: FileVaultStorage.revision(stamp))
        } catch let error as CertVaultError where error.code == .notFound {
            return nil
        }
    }

    public func blobRevision(_ blob: VaultBlob) throws -> String? {
        Vault.fileStamp(file(blob.rawValue)).map { FileVaultStorage.revision($0) }
    }

    /// Device, inode, size and change time: every write renames a new file into place, so the inode changes.
    static func revision(_ stamp: [Int]?) -> String { stamp.map { $0.map(String.init).joined(separator: ":") } ?? "" }

    public func createBlob(_ blob: VaultBlob, bytes: [UInt8]) throws {
        // link(2): if another writer got here first, this one fails instead of replacing its file.
        try Vault.writeAtomically(bytes, to: file(blob.rawValue), folder: path, replace: false)
    }

    public func replaceBlob(_ blob: VaultBlob, bytes: [UInt8], expectedRevision: String?) throws {
        // Writers hold the lock, so the revision cannot change between the check and the rename.
        if let expectedRevision, try blobRevision(blob) != expectedRevision {
            throw CertVaultError(.alreadyExists, "'\(file(blob.rawValue))' was changed by another writer.",
                                 hint: "Nothing was replaced; try again.")
        }
        try Vault.writeAtomically(bytes, to: file(blob.rawValue), folder: path)
    }

    // MARK: Entries

    public func readEntry(tenant: TenantID, generation: Int) throws -> [UInt8]? {
        do {
            return try Vault.readFile(entryPath(tenant, generation))
        } catch let error as CertVaultError where error.code == .notFound {
            return nil
        }
    }

    /// The caller holds the lock (temporary files found in the tenant folder are then a dead writer's).
    public func createEntry(tenant: TenantID, generation: Int, bytes: [UInt8]) throws {
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
        removeTemporaryFiles(PrivateFiles.names(in: folder).filter(Vault.isTemporaryName), in: folder)
        try Vault.writeAtomically(bytes, to: entryPath(tenant, generation), folder: folder, replace: false)
    }

    @discardableResult
    public func updateEntry(tenant: TenantID, generation: Int, _ change: ([UInt8]) throws -> [UInt8]?) throws -> Bool {
        guard let bytes = try readEntry(tenant: tenant, generation: generation) else { return false }
        if let changed = try change(bytes) {
            try Vault.writeAtomically(changed, to: entryPath(tenant, generation), folder: tenantFolder(tenant), replace: true)
        }
        return true
    }

    public func generations(of tenant: TenantID) throws -> [Int] {
        PrivateFiles.names(in: tenantFolder(tenant)).compactMap(entryGeneration(fromFileName:)).sorted()
    }

    public func tenants() throws -> [TenantID] {
        PrivateFiles.names(in: "\(path)/tenants").compactMap { try? TenantID($0) }.filter { (try? generations(of: $0).isEmpty) == false }.sorted()
    }

    public func inventory() throws -> (entries: [(TenantID, Int)], strays: [String]) {
        var entries: [(TenantID, Int)] = []
        var strays: [String] = []
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: "\(path)/tenants")) ?? []).sorted() {
            guard let tenant = try? TenantID(name) else {
                strays.append("tenants/\(name): not a valid tenant folder name")
                continue
            }
            for file in ((try? FileManager.default.contentsOfDirectory(atPath: tenantFolder(tenant))) ?? []).sorted() {
                if file.hasPrefix(".tmp-") { continue }
                guard let generation = entryGeneration(fromFileName: file) else {
                    strays.append("tenants/\(name)/\(file): not an entry file name")
                    continue
                }
                entries.append((tenant, generation))
            }
        }
        return (entries, strays)
    }

    /// Shreds temporary files left by a killed writer; the caller holds the vault lock.
    func removeTemporaryFiles(_ names: [String], in folder: String) {
        guard !names.isEmpty else { return }
        let removed = names.filter { Leftovers.shred("\(folder)/\($0)") }
        if !removed.isEmpty { try? PrivateFiles.syncDirectory(folder) }
        Leftovers.note(removed, in: folder, what: "temporary file(s)")
    }

    // MARK: Audit log

    var auditPath: String { file(AuditLog.fileName) }
    var auditHeadPath: String { file(AuditLog.headName) }

    /// Writes the lines in blocks of 1 MiB, fsyncs, then replaces `audit.head`. The caller holds the lock.
    public func appendAudit(_ make: (AuditTail?) throws -> AuditAppend) throws {
        let fd = open(auditPath, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw CertVaultError(.fileSystem, "Cannot open the audit log '\(auditPath)'.", underlying: PrivateFiles.errnoText())
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw CertVaultError(.fileSystem, "The audit log '\(auditPath)' is not a regular file.",
                                 hint: "Move what is in its place away and put the log back from a backup.")
        }
        let append = try make(try lastRecord(fd: fd))
        guard !append.lines.isEmpty else { return }
        var block: [UInt8] = []
        block.reserveCapacity(append.lines.count == 1 ? 512 : 1 << 20)
        for line in append.lines {
            block += line.text.utf8
            if block.count >= 1 << 20 {
                try block.withUnsafeBytes { try PrivateFiles.writeAll(fd: fd, $0, what: "the audit log") }
                block.removeAll(keepingCapacity: true)
            }
        }
        try block.withUnsafeBytes { try PrivateFiles.writeAll(fd: fd, $0, what: "the audit log") }
        guard !PrivateFiles.durableWrites || fsync(fd) == 0 else {
            throw CertVaultError(.fileSystem, "Cannot flush the audit log.", underlying: PrivateFiles.errnoText())
        }
        // A new file under a unique name (O_CREAT | O_EXCL | O_NOFOLLOW), never a fixed name
        // opened with truncation: a link planted under a predictable name is never written through.
        try Vault.writeAtomically(append.head, to: auditHeadPath, folder: path)
    }

    public func readAuditLog() throws -> [UInt8] {
        do {
            return try Vault.readFile(auditPath, limit: 1 << 31)
        } catch let error as CertVaultError where error.code == .notFound {
            return []
        }
    }

    public func readAuditHead() throws -> [UInt8]? {
        do {
            return try Vault.readFile(auditHeadPath, limit: 4096)
        } catch let error as CertVaultError where error.code == .notFound {
            return nil
        }
    }

    /// The sequence number and mac of the log's last complete line, reading only its tail.
    func lastRecord(fd: Int32) throws -> AuditTail? {
        let size = lseek(fd, 0, SEEK_END)
        guard size > 0 else { return nil }
        let window = min(Int(size), 8192)
        var tail = [UInt8](repeating: 0, count: window)
        guard pread(fd, &tail, window, off_t(Int(size) - window)) == window else {
            throw CertVaultError(.fileSystem, "Cannot read the audit log '\(auditPath)'.", underlying: PrivateFiles.errnoText())
        }
        if tail.last != UInt8(ascii: "\n") {
            // A write cut short (a full disk): end the fragment so that the next record starts
            // on its own line. The fragment stays visible to `audit verify` as a malformed line;
            // the chain continues from the last complete record.
            let newline: [UInt8] = [UInt8(ascii: "\n")]
            _ = newline.withUnsafeBytes { write(fd, $0.baseAddress, 1) }
            tail.append(UInt8(ascii: "\n"))
        }
        // From the end backwards, one line at a time: almost always the last line is a record,
        // and only it is decoded (this runs on every store and read-out).
        var end = tail.count - 1
        while end > 0 {
            var start = end
            while start > 0 && tail[start - 1] != UInt8(ascii: "\n") { start -= 1 }
            // A line cut by the window's start is incomplete: only lines that start in the window count.
            if start > 0 || window == Int(size), let record = AuditLog.tail(ofLine: tail[start..<end]) { return record }
            end = start - 1
        }
        throw VaultError.corrupt(auditPath, "its last lines are not audit records", hint: "Run 'certvault audit verify'; restore the log from a backup.")
    }
}
