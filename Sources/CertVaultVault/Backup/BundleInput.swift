internal import CertVaultCore

#if canImport(Glibc)
internal import Glibc
#endif

/// Reads exact byte counts from a bundle, saying clearly when it ends early.
struct BundleInput {
    let fd: Int32
    let file: String

    /// Exactly `count` bytes, or nil when the file ends before the first of them.
    mutating func readOrEnd(_ count: Int) throws -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let got = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + done, count - done) }
            if got < 0 && errno == EINTR { continue }
            if got < 0 { throw CertVaultError(.fileSystem, "Cannot read '\(file)'.", underlying: PrivateFiles.errnoText()) }
            if got == 0 {
                if done == 0 { return nil }
                throw VaultError.corrupt(file, "it ends early (cut short)", hint: "Copy the whole backup file again, or use another backup.")
            }
            done += got
        }
        return bytes
    }

    mutating func read(_ count: Int, what: String) throws -> [UInt8] {
        guard let bytes = try readOrEnd(count) else {
            throw VaultError.corrupt(file, "it ends early, in \(what) (cut short)", hint: "Copy the whole backup file again, or use another backup.")
        }
        return bytes
    }
}
