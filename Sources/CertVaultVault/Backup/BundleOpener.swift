internal import CSodium
internal import CertVaultCore

/// Opens format-2 chunks in order.
final class BundleOpener {
    let prefix: [UInt8]
    let file: String
    let chunk: Int
    private var state = crypto_secretstream_xchacha20poly1305_state()
    private let plain: SecureBuffer

    init(key: SecretBytes, header: [UInt8], prefix: [UInt8], file: String, chunk: Int) throws {
        self.prefix = prefix
        self.file = file
        self.chunk = chunk
        plain = SecureBuffer(count: chunk)
        var initial = crypto_secretstream_xchacha20poly1305_state()
        let ok = key.withUnsafeBytes { k in
            crypto_secretstream_xchacha20poly1305_init_pull(&initial, header, k.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 0
        }
        state = initial
        sodium_memzero(&initial, MemoryLayout<crypto_secretstream_xchacha20poly1305_state>.size)
        guard ok else { throw VaultError.corrupt(file, "its stream header is invalid") }
    }

    deinit { sodium_memzero(&state, MemoryLayout<crypto_secretstream_xchacha20poly1305_state>.size) }

    /// Opens one chunk and feeds its plaintext to `sink`; true when it was the final chunk.
    func open(_ sealed: [UInt8], index: Int, into sink: inout BundleFileSink) throws -> Bool {
        let overhead = Int(crypto_secretstream_xchacha20poly1305_abytes())
        guard sealed.count >= overhead, sealed.count <= chunk + overhead else {
            throw VaultError.corrupt(file, "chunk \(index + 1) claims \(sealed.count) bytes (altered or not a backup)")
        }
        var length: UInt64 = 0
        var tag: UInt8 = 0
        let ok = crypto_secretstream_xchacha20poly1305_pull(&state, plain.bytes, &length, &tag, sealed, UInt64(sealed.count), prefix,
                                                           UInt64(prefix.count)) == 0
        guard ok else {
            if index == 0 {
                throw CertVaultError(.vaultLocked, "The key does not open the backup '\(file)', or the backup was altered.",
                                     hint: "Use the key file or passphrase of the vault the backup was taken from.")
            }
            throw VaultError.authentication(file, "backup chunk \(index + 1) (altered, reordered or from another bundle)")
        }
        try sink.consume(UnsafeRawBufferPointer(start: plain.pointer, count: Int(length)))
        return tag == crypto_secretstream_xchacha20poly1305_tag_final()
    }
}
