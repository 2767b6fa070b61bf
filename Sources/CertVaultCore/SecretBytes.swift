internal import CSodium

/// Bytes that must not leak: private keys, passwords, data keys.
///
/// The bytes live in memory from libsodium's `sodium_malloc` (guard pages, locked against
/// swapping where the system allows) and are wiped when the last copy of the value goes away.
/// They are reachable only through ``withUnsafeBytes(_:)``; `description` and `debugDescription`
/// show the length and never the content; `==` runs in constant time.
///
/// A one-byte NUL terminator is kept after the content (not counted in ``count``) so that a
/// password can be handed to a C function that takes a `const char *` without a copy.
public struct SecretBytes: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The storage: one owner of the sodium allocation.
    final class Storage: @unchecked Sendable {
        // Safety: `pointer` is written only during initialisation, before the storage is shared;
        // afterwards it is only read, so sharing across threads is safe.
        let pointer: UnsafeMutableRawPointer
        let count: Int

        init(count: Int) {
            SodiumRuntime.ensureInitialized()
            guard let pointer = sodium_malloc(count + 1) else {
                fatalError("sodium_malloc failed to allocate \(count + 1) bytes of secure memory")
            }
            self.pointer = pointer
            self.count = count
            pointer.storeBytes(of: 0, toByteOffset: count, as: UInt8.self)
        }

        deinit {
            // sodium_free wipes the bytes before it unmaps them.
            sodium_free(pointer)
        }
    }

    let storage: Storage
    /// The bytes of `storage` this value covers: all of them, or a slice that shares the
    /// allocation (a field inside a decrypted payload) so that no second copy is made.
    let range: Range<Int>

    /// The number of secret bytes.
    public var count: Int { range.count }

    /// True when there are no bytes.
    public var isEmpty: Bool { range.isEmpty }

    /// Creates `count` bytes filled by `initializer`, which writes into the secure buffer directly
    /// so that the secret never exists anywhere else.
    public init(count: Int, initializer: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        precondition(count >= 0, "SecretBytes count must not be negative")
        storage = Storage(count: count)
        range = 0..<count
        try initializer(UnsafeMutableRawBufferPointer(start: storage.pointer, count: count))
    }

    /// Copies bytes from a buffer the caller owns (and should wipe) into secure memory.
    public init(copying bytes: UnsafeRawBufferPointer) {
        self.init(count: bytes.count) { target in
            if let base = bytes.baseAddress, bytes.count > 0 {
                target.baseAddress!.copyMemory(from: base, byteCount: bytes.count)
            }
        }
    }

    /// `count` bytes from libsodium's CSPRNG.
    public static func random(count: Int) -> SecretBytes {
        SecretBytes(count: count) { buffer in
            if let base = buffer.baseAddress { randombytes_buf(base, buffer.count) }
        }
    }

    /// Calls `body` with the secret bytes. Do not let the pointer escape.
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(UnsafeRawBufferPointer(start: storage.pointer + range.lowerBound, count: range.count))
    }

    private init(storage: Storage, range: Range<Int>) {
        self.storage = storage
        self.range = range
    }

    /// The bytes at `offsets` (relative to this value), sharing this value's secure memory.
    public func slice(_ offsets: Range<Int>) -> SecretBytes {
        precondition(offsets.lowerBound >= 0 && offsets.upperBound <= count, "slice out of bounds")
        return SecretBytes(storage: storage, range: (range.lowerBound + offsets.lowerBound)..<(range.lowerBound + offsets.upperBound))
    }

    /// Calls `body` with the bytes as a NUL-terminated C string, for C APIs that take passwords.
    ///
    /// The caller must ensure the bytes contain no NUL of their own (``PasswordRules`` do).
    public func withUnsafeCString<Result>(_ body: (UnsafePointer<CChar>) throws -> Result) rethrows -> Result {
        // Only a value that ends where its storage ends has the storage's NUL after it.
        guard range.upperBound == storage.count else {
            return try withUnsafeBytes { try SecretBytes(copying: $0).withUnsafeCString(body) }
        }
        return try body((storage.pointer + range.lowerBound).assumingMemoryBound(to: CChar.self))
    }

    /// Returns a copy of the first `length` bytes, in new secure memory.
    public func prefix(_ length: Int) -> SecretBytes {
        let length = Swift.min(Swift.max(0, length), count)
        return withUnsafeBytes { SecretBytes(copying: UnsafeRawBufferPointer(rebasing: $0.prefix(length))) }
    }

    /// Constant-time comparison (libsodium's `sodium_memcmp`); lengths are not secret.
    public static func == (lhs: SecretBytes, rhs: SecretBytes) -> Bool {
        guard lhs.count == rhs.count else { return false }
        if lhs.count == 0 { return true }
        return lhs.withUnsafeBytes { a in rhs.withUnsafeBytes { b in sodium_memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 } }
    }

    public var description: String { "SecretBytes(\(count) bytes, redacted)" }
    public var debugDescription: String { description }
}

/// libsodium's one-time global initialisation.
public enum SodiumRuntime {
    private static let initialized: Bool = sodium_init() >= 0

    /// Initialises libsodium once per process; safe to call from any thread, any number of times.
    public static func ensureInitialized() {
        precondition(initialized, "libsodium could not be initialised (sodium_init failed)")
    }

    /// The version of the libsodium library linked at run time.
    public static var version: String { String(cString: sodium_version_string()) }

    /// A uniformly distributed random number in `0..<upperBound`, without modulo bias.
    public static func uniformRandom(below upperBound: UInt32) -> UInt32 {
        ensureInitialized()
        return randombytes_uniform(upperBound)
    }
}

/// Wiping of ordinary buffers that briefly held a secret (a request body with a password).
public enum SecureWipe {
    /// Overwrites every byte with zero, in a way the compiler does not remove (`sodium_memzero`).
    public static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { raw in
            if let base = raw.baseAddress { sodium_memzero(base, raw.count) }
        }
    }
}
