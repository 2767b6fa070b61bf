public import CertVaultCore
internal import Foundation

#if canImport(Glibc)
    internal import Glibc
#endif

/// Which version of an access document (the token or invitation store's bytes) was read: a file's
/// `stat` stamp, or a database row's revision. Only compared for equality.
public struct AccessDocumentVersion: Hashable, Sendable {
    /// The values that identify the version.
    public let values: [Int64]

    /// A version made of `values`.
    public init(_ values: [Int64]) { self.values = values }
}

/// The bytes of an access document and the version they were read at.
public struct AccessDocument: Sendable {
    /// The document's bytes (the MACed store format, docs/access.md).
    public var bytes: [UInt8]
    /// The version read.
    public var version: AccessDocumentVersion

    /// A document.
    public init(bytes: [UInt8], version: AccessDocumentVersion) {
        self.bytes = bytes
        self.version = version
    }
}

/// Where ``TokenStore`` and ``InvitationStore`` keep their one document: a file (``FileAccessDocument``)
/// or a row of the shared database (`PostgresAccessDocuments` in CertVaultPostgres).
///
/// The stores authenticate the bytes (MAC, key check, revision) themselves; a backend only keeps
/// them. Changes are compare-and-swap: a store reads the document, changes it, and writes it only if
/// nobody wrote it meanwhile (``write(_:revision:replacing:)`` returns nil otherwise); then it reads
/// again and re-applies its change. So writers in several processes or replicas never lose each
/// other's changes, and a change that must happen once (an invitation completed) happens once.
public protocol AccessDocumentBackend: Sendable {
    /// Where the document is, for messages (a file's path, or the database table and row).
    var location: String { get }

    /// The current version, or nil when there is no document yet. Cheap (a `stat`, or one small
    /// query): the stores call it on every request to notice another process's change.
    ///
    /// - Throws: ``CertVaultError`` `file-system`, `storage-unavailable`.
    func currentVersion() throws -> AccessDocumentVersion?

    /// The document's bytes and version, or nil when there is none.
    ///
    /// - Throws: ``CertVaultError`` `file-system`, `insecure-permissions`, `storage-unavailable`, or
    ///   the store's `corrupt` code for a document too large to be a store.
    func read() throws -> AccessDocument?

    /// Writes `bytes` (a store at `revision`) if the document is still at `expected` (nil: there is
    /// none yet). Returns the new version, or nil when another writer changed it first (nothing was
    /// written; read again and retry).
    ///
    /// - Throws: ``CertVaultError`` `file-system`, `storage-unavailable`.
    func write(_ bytes: [UInt8], revision: UInt64, replacing expected: AccessDocumentVersion?) throws -> AccessDocumentVersion?
}

/// An access document in a file (mode 0600 in a 0700 folder), as the stores have always kept it:
/// replaced atomically (temporary file, fsync, rename, fsync of the folder) under `flock` on
/// `<file>.lock`, which makes the compare-and-swap; the version is the file's `stat` stamp.
public final class FileAccessDocument: AccessDocumentBackend {
    /// The file.
    public let path: String
    /// What the document is, for messages ("token store").
    let what: String
    /// The code for a file too large to be a store.
    let corruptCode: CertVaultError.Code
    /// The largest file that can be a store.
    static let sizeLimit = 16 << 20

    /// The document in the file at `path`; `what` names it in messages ("token store").
    public init(path: String, what: String, corruptCode: CertVaultError.Code) {
        self.path = path
        self.what = what
        self.corruptCode = corruptCode
    }

    /// The file's path.
    public var location: String { path }

    private var folder: String {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count > 1 else { return "." }
        let joined = parts.dropLast().joined(separator: "/")
        return joined.isEmpty ? "/" : joined
    }

    private static func stamp(_ info: stat) -> AccessDocumentVersion {
        AccessDocumentVersion([
            Int64(info.st_dev), Int64(info.st_ino), Int64(info.st_size), Int64(info.st_mtim.tv_sec), Int64(info.st_mtim.tv_nsec),
            Int64(info.st_ctim.tv_sec), Int64(info.st_ctim.tv_nsec),
        ])
    }

    /// The file's `stat` stamp, or nil when it does not exist (or cannot be looked at: the read says why).
    public func currentVersion() throws -> AccessDocumentVersion? {
        var info = stat()
        return stat(path, &info) == 0 ? FileAccessDocument.stamp(info) : nil
    }

    /// Reads the file (checking that it and its folder are private); nil when there is none.
    public func read() throws -> AccessDocument? {
        var info = stat()
        if lstat(path, &info) != 0 {
            if errno == ENOENT { return nil }
            throw CertVaultError(.fileSystem, "Cannot read the \(what) '\(path)'.", underlying: PrivateFiles.errnoText())
        }
        try PrivateFiles.checkPrivateFolder(folder, what: "The \(what)'s folder")
        let fd = try PrivateFiles.openPrivateFile(path, what: "The \(what)")
        defer { close(fd) }
        guard fstat(fd, &info) == 0 else {
            throw CertVaultError(.fileSystem, "Cannot read the \(what) '\(path)'.", underlying: PrivateFiles.errnoText())
        }
        guard info.st_size <= FileAccessDocument.sizeLimit else {
            throw CertVaultError(
                corruptCode, "The \(what) '\(path)' is \(info.st_size) bytes, more than a store can be.",
                hint: "Check that the path names the \(what).")
        }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var done = 0
        while done < bytes.count {
            let got = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + done, $0.count - done) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else {
                throw CertVaultError(.fileSystem, "Cannot read the \(what) '\(path)'.", underlying: PrivateFiles.errnoText())
            }
            done += got
        }
        return AccessDocument(bytes: bytes, version: FileAccessDocument.stamp(info))
    }

    /// Under the lock: if the file is still at `expected`, replaces it atomically with `bytes`.
    public func write(_ bytes: [UInt8], revision: UInt64, replacing expected: AccessDocumentVersion?) throws -> AccessDocumentVersion? {
        try PrivateFiles.makePrivateDirectory(folder, exposure: .privateOnly)
        let lockFD = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard lockFD >= 0 else {
            throw CertVaultError(.fileSystem, "Cannot open the \(what)'s lock '\(path).lock'.", underlying: PrivateFiles.errnoText())
        }
        defer { close(lockFD) }
        while flock(lockFD, LOCK_EX) != 0 {
            guard errno == EINTR else {
                throw CertVaultError(.fileSystem, "Cannot lock the \(what).", underlying: PrivateFiles.errnoText())
            }
        }
        defer { flock(lockFD, LOCK_UN) }
        guard try currentVersion() == expected else { return nil }
        let base = path.split(separator: "/").last.map(String.init) ?? "store"
        let temporary = "\(folder)/.\(base).tmp-\(PrivateFiles.randomName())"
        do {
            try PrivateFiles.writeNewFile(temporary, bytes: bytes)
            guard rename(temporary, path) == 0 else {
                throw CertVaultError(.fileSystem, "Cannot rename into '\(path)'.", underlying: PrivateFiles.errnoText())
            }
            try PrivateFiles.syncDirectory(folder)
        } catch {
            unlink(temporary)
            throw error
        }
        guard let written = try currentVersion() else {
            throw CertVaultError(.fileSystem, "The \(what) '\(path)' disappeared right after it was written.")
        }
        return written
    }
}

/// The compare-and-swap loop the stores share: read, change, write if unchanged, else again.
enum AccessDocumentUpdate {
    /// How many times a change is tried against other writers before giving up.
    static let attempts = 200

    /// Calls `attempt` until it reports a write (non-nil), waiting a little, randomly, after each
    /// lost race so that two replicas do not collide in step.
    ///
    /// - Throws: what `attempt` throws; `storage-unavailable` after ``attempts`` lost races.
    static func retrying<T>(location: String, _ attempt: () throws -> T?) throws -> T {
        for number in 0..<attempts {
            if let done = try attempt() { return done }
            usleep(UInt32.random(in: 0...UInt32(min(20_000, 500 * (number + 1)))))
        }
        throw CertVaultError(
            .storageUnavailable, "'\(location)' kept changing under this change (\(attempts) tries).",
            hint: "Other processes are writing it without pause; try again.")
    }
}
