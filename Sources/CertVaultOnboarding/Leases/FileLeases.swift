public import CertVaultCore
internal import Foundation
internal import Synchronization

#if canImport(Glibc)
internal import Glibc
#endif

/// Leases on one machine: the file backend's ``LeaseService``.
///
/// Between processes a lease is a `flock` on `<folder>/<name>.lease`, as the onboarding records'
/// tenant locks are: the kernel drops it when the process dies, so a lease of a dead process is
/// free at once. Within the process, holders are told apart and a lease expires after its
/// seconds (another holder may then take it, with a higher fence). The fence is kept in the lease
/// file, so it keeps growing across restarts.
public final class FileLeases: LeaseService {
    private struct Held {
        var holder: String
        var fence: Int64
        var expires: Date
        var released: Bool
        var fd: Int32
    }

    private let folder: String
    private let held = Mutex<[String: Held]>([:])

    /// Leases in `folder` (created 0700).
    public init(folder: String) throws {
        try PrivateFiles.makePrivateDirectory(folder)
        self.folder = folder
    }

    deinit {
        held.withLock { leases in for lease in leases.values { close(lease.fd) } }
    }

    private func file(_ name: String) -> String {
        let safe = name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "_" }
        return "\(folder)/\(String(safe)).lease"
    }

    public func acquire(_ name: String, holder: String, seconds: Double) throws -> Lease? {
        try held.withLock { leases -> Lease? in
            let now = Date()
            if var current = leases[name] {
                if current.holder == holder || current.released || current.expires < now {
                    let changed = current.holder != holder
                    let takenOver = changed && !current.released
                    let previous = changed ? current.holder : nil
                    if changed { current.fence += 1; try writeFence(current.fence, fd: current.fd) }
                    current.holder = holder
                    current.expires = now.addingTimeInterval(seconds)
                    current.released = false
                    leases[name] = current
                    return Lease(name: name, holder: holder, fence: current.fence, takenOver: takenOver, previousHolder: previous)
                }
                return nil
            }
            let path = file(name)
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard fd >= 0 else {
                throw CertVaultError(.fileSystem, "Cannot open the lease file '\(path)'.", underlying: PrivateFiles.errnoText())
            }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
                close(fd)
                return nil  // another process holds it
            }
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = pread(fd, &buffer, 32, 0)
            let stored = count > 0 ? Int64(String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) : nil
            let fence = (stored ?? 0) + 1
            try writeFence(fence, fd: fd)
            leases[name] = Held(holder: holder, fence: fence, expires: now.addingTimeInterval(seconds), released: false, fd: fd)
            return Lease(name: name, holder: holder, fence: fence)
        }
    }

    private func writeFence(_ fence: Int64, fd: Int32) throws {
        let text = Array("\(fence)\n".utf8)
        guard ftruncate(fd, 0) == 0, pwrite(fd, text, text.count, 0) == text.count else {
            throw CertVaultError(.fileSystem, "Cannot write a lease file in '\(folder)'.", underlying: PrivateFiles.errnoText())
        }
    }

    public func renew(_ lease: Lease, seconds: Double) throws -> Lease? {
        held.withLock { leases in
            guard var current = leases[lease.name], current.holder == lease.holder, current.fence == lease.fence, !current.released else {
                return nil
            }
            current.expires = Date().addingTimeInterval(seconds)
            leases[lease.name] = current
            return Lease(name: lease.name, holder: lease.holder, fence: lease.fence)
        }
    }

    public func release(_ lease: Lease) throws {
        held.withLock { leases in
            guard var current = leases[lease.name], current.holder == lease.holder, current.fence == lease.fence else { return }
            current.released = true
            leases[lease.name] = current
        }
    }

    public func isCurrent(_ lease: Lease) throws -> Bool {
        held.withLock { leases in
            guard let current = leases[lease.name] else { return false }
            return current.holder == lease.holder && current.fence == lease.fence && !current.released && current.expires > Date()
        }
    }
}
