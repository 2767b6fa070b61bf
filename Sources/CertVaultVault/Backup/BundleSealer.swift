internal import CSodium
internal import CertVaultCore

#if canImport(Glibc)
internal import Glibc
#endif

/// Seals a stream of files into format-2 chunks: `u32 length ‖ secretstream ciphertext`, the
/// last chunk tagged final; every chunk has the bundle's header as associated data.
final class BundleSealer {
    let fd: Int32
    let prefix: [UInt8]
    let chunk: Int
    private var state = crypto_secretstream_xchacha20poly1305_state()
    private let plain: SecureBuffer
    private var filled = 0
    private var sealed: [UInt8]

    /// Writes the header (`prefix` and the stream header) to `fd`.
    init(fd: Int32, key: SecretBytes, prefix: [UInt8], chunk: Int) throws {
        self.fd = fd
        self.chunk = chunk
        plain = SecureBuffer(count: chunk)
        sealed = [UInt8](repeating: 0, count: 4 + chunk + Int(crypto_secretstream_xchacha20poly1305_abytes()))
        var streamHeader = [UInt8](repeating: 0, count: Int(crypto_secretstream_xchacha20poly1305_headerbytes()))
        var initial = crypto_secretstream_xchacha20poly1305_state()
        key.withUnsafeBytes { k in
            _ = crypto_secretstream_xchacha20poly1305_init_push(&initial, &streamHeader, k.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        state = initial
        sodium_memzero(&initial, MemoryLayout<crypto_secretstream_xchacha20poly1305_state>.size)
        self.prefix = prefix + streamHeader
        try self.prefix.withUnsafeBytes { try PrivateFiles.writeAll(fd: fd, $0, what: "the backup file") }
    }

    deinit { sodium_memzero(&state, MemoryLayout<crypto_secretstream_xchacha20poly1305_state>.size) }

    /// Appends plaintext bytes.
    func append(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let take = min(chunk - filled, bytes.count - offset)
            bytes.withUnsafeBytes { (plain.pointer + filled).copyMemory(from: $0.baseAddress! + offset, byteCount: take) }
            filled += take
            offset += take
            if filled == chunk { try flush(final: false) }
        }
    }

    /// Appends one file's bytes held in memory (from storage other than files), framed as ``appendFile(named:at:)`` frames a file.
    func appendBytes(named name: String, bytes: [UInt8]) throws {
        let nameBytes = Array(name.utf8)
        var header = ByteWriter()
        header.append([UInt8(nameBytes.count >> 8), UInt8(nameBytes.count & 0xFF)])
        header.append(nameBytes)
        header.u64(UInt64(bytes.count))
        try append(header.bytes)
        try append(bytes)
    }

    /// Appends one file: `name length (u16) ‖ name ‖ size (u64) ‖ data`, read straight into the chunk buffer.
    func appendFile(named name: String, at path: String) throws {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else { throw CertVaultError(.fileSystem, "Cannot read '\(path)' for the backup.", underlying: PrivateFiles.errnoText()) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw CertVaultError(.fileSystem, "'\(path)' is not a regular file; it cannot be backed up.",
                                 hint: "Move it out of the vault folder, then run 'certvault vault verify'.")
        }
        let nameBytes = Array(name.utf8)
        var header = ByteWriter()
        header.append([UInt8(nameBytes.count >> 8), UInt8(nameBytes.count & 0xFF)])
        header.append(nameBytes)
        header.u64(UInt64(info.st_size))
        try append(header.bytes)
        var left = Int(info.st_size)
        while left > 0 {
            let got = Glibc.read(fd, plain.pointer + filled, min(left, chunk - filled))
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else {
                throw CertVaultError(.fileSystem, "'\(path)' changed size while it was backed up.", hint: "Run the backup again.",
                                     underlying: got < 0 ? PrivateFiles.errnoText() : nil)
            }
            filled += got
            left -= got
            if filled == chunk { try flush(final: false) }
        }
    }

    /// Seals what is left as the final chunk.
    func finish() throws { try flush(final: true) }

    private func flush(final: Bool) throws {
        let tag = final ? crypto_secretstream_xchacha20poly1305_tag_final() : crypto_secretstream_xchacha20poly1305_tag_message()
        var length: UInt64 = 0
        sealed.withUnsafeMutableBytes { out in
            let c = out.baseAddress!.assumingMemoryBound(to: UInt8.self) + 4
            _ = crypto_secretstream_xchacha20poly1305_push(&state, c, &length, plain.bytes, UInt64(filled), prefix, UInt64(prefix.count), tag)
        }
        sealed[0] = UInt8(truncatingIfNeeded: length >> 24)
        sealed[1] = UInt8(truncatingIfNeeded: length >> 16)
        sealed[2] = UInt8(truncatingIfNeeded: length >> 8)
        sealed[3] = UInt8(truncatingIfNeeded: length)
        try sealed.withUnsafeBytes {
            try PrivateFiles.writeAll(fd: fd, UnsafeRawBufferPointer(rebasing: $0[0..<(4 + Int(length))]), what: "the backup file")
        }
        filled = 0
    }
}
