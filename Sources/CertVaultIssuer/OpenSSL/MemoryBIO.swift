internal import COpenSSL
internal import CCertVaultShims

/// One owner of an OpenSSL memory BIO, for serialising PEM.
final class MemoryBIO {
    let pointer: OpaquePointer

    init() throws {
        guard let bio = BIO_new(BIO_s_mem()) else { throw OpenSSLError.failure("allocate a memory buffer") }
        pointer = bio
    }

    deinit { BIO_free(pointer) }

    /// The bytes written so far.
    var bytes: [UInt8] {
        var data: UnsafeMutablePointer<CChar>?
        let length = CCertVaultShims_BIO_get_mem_data(pointer, &data)
        guard let data, length > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: data, count: Int(length)))
    }
}
