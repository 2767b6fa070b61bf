internal import CertVaultCore
internal import Foundation

#if canImport(Glibc)
internal import Glibc
#endif

/// Turns the bundle's plaintext (`name length (u16) ‖ name ‖ size (u64) ‖ data`, repeated) into
/// files under a folder, a piece at a time.
struct BundleFileSink {
    let folder: String
    let bundle: String
    private(set) var names: [String] = []
    private var pending: [UInt8] = []
    private var current: (fd: Int32, left: UInt64, name: String)?
    private var folders: Set<String> = []
    private var created: Set<String> = []

    init(folder: String, bundle: String) {
        self.folder = folder
        self.bundle = bundle
        folders.insert("\(folder)/tenants")
    }

    mutating func consume(_ raw: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < raw.count {
            if let file = current {
                let take = Int(min(file.left, UInt64(raw.count - offset)))
                try PrivateFiles.writeAll(fd: file.fd, UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + take)]),
                                          what: "'\(folder)/\(file.name)'")
                offset += take
                current!.left -= UInt64(take)
                if current!.left == 0 { closeCurrent() }
                continue
            }
            // A file's header: collect 2 bytes of name length, the name and 8 bytes of size.
            let needed = pending.count < 2 ? 2 : 2 + (Int(pending[0]) << 8 | Int(pending[1])) + 8
            let take = min(needed - pending.count, raw.count - offset)
            pending += raw[offset..<(offset + take)]
            offset += take
            if pending.count == 2 && (Int(pending[0]) << 8 | Int(pending[1])) > 1024 {
                throw VaultError.corrupt(bundle, "it names a file with a \(Int(pending[0]) << 8 | Int(pending[1]))-byte name")
            }
            if pending.count >= 2 && pending.count == 2 + (Int(pending[0]) << 8 | Int(pending[1])) + 8 { try startFile() }
        }
    }

    private mutating func startFile() throws {
        let nameLength = Int(pending[0]) << 8 | Int(pending[1])
        let nameBytes = Array(pending[2..<(2 + nameLength)])
        let size = pending[(2 + nameLength)...].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        pending = []
        guard let name = String(validating: nameBytes, as: UTF8.self), Vault.isAllowedBackupPath(name) else {
            throw VaultError.corrupt(bundle, "it names an unexpected file '\(TenantID.printable(String(decoding: nameBytes, as: UTF8.self)))'")
        }
        guard created.insert(name).inserted else { throw VaultError.corrupt(bundle, "it holds '\(name)' twice") }
        let path = "\(folder)/\(name)"
        let parent = Leftovers.folder(of: path)
        if !folders.contains(parent) {
            try PrivateFiles.makePrivateDirectory(parent)
            folders.insert(parent)
        }
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CertVaultError(.fileSystem, "Cannot create '\(path)'.", underlying: PrivateFiles.errnoText()) }
        names.append(name)
        current = (fd, size, name)
        if size == 0 { closeCurrent() }
    }

    private mutating func closeCurrent() {
        if let file = current { close(file.fd) }
        current = nil
    }

    /// Checks that the stream ended between files.
    mutating func finish() throws {
        if let file = current {
            closeCurrent()
            throw VaultError.corrupt(bundle, "it ends inside '\(file.name)'")
        }
        guard pending.isEmpty else { throw VaultError.corrupt(bundle, "it ends inside a file's header") }
    }

    /// Makes every written file and folder durable before the vault is published: one
    /// `syncfs` for the whole file system (files and folders alike) instead of an fsync per
    /// file and folder, which costs minutes for 100,000 entries.
    func makeDurable() throws {
        try Leftovers.syncFileSystem(of: folder)
    }
}
