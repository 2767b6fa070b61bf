internal import CSodium
public import CertVaultCore

#if canImport(Glibc)
internal import Glibc
#endif

/// How a vault's 32-byte root key is kept.
public enum RootKeyProtection: Sendable {
    /// In a key file (mode 0600 in a 0700 folder), kept apart from the vault folder.
    case keyFile(path: String)
    /// Wrapped under a passphrase with Argon2id in the vault's `root.passphrase` file.
    case passphrase(SecretSource, parameters: Argon2Parameters = .default)
}

/// Argon2id cost parameters (libsodium's `crypto_pwhash` with `ALG_ARGON2ID13`). They are
/// stored beside the wrapped key, so a vault keeps opening if the defaults change.
///
/// Two ranges apply. New wrappings (`init`, `change-passphrase`) must use at least
/// ``minimumOperations`` passes over ``minimumMemoryBytes``: libsodium's own minimum (1 pass,
/// 8 KiB) protects nothing. A `root.passphrase` being read is not authenticated until Argon2id
/// has run, so its parameters are capped at ``maximumOperations`` and ``maximumMemoryBytes``
/// before any work is done: a planted file or an untrusted bundle cannot make certvault spend
/// more than that. Creation uses the same cap, so every vault certvault writes opens again.
public struct Argon2Parameters: Sendable, Hashable {
    /// Passes over memory (`opslimit`).
    public var operations: UInt64
    /// Memory in bytes (`memlimit`).
    public var memoryBytes: UInt64
    /// Set only by ``belowWritingFloor(operations:memoryBytes:)``, for tests and benchmarks.
    package private(set) var skipsWritingFloor = false

    /// Creates parameters; see ``default``.
    public init(operations: UInt64, memoryBytes: UInt64) {
        self.operations = operations
        self.memoryBytes = memoryBytes
    }

    /// Parameters below the writing floor, accepted when creating a vault: only for tests and
    /// benchmarks, which would otherwise spend seconds per vault.
    package static func belowWritingFloor(operations: UInt64, memoryBytes: UInt64) -> Argon2Parameters {
        var parameters = Argon2Parameters(operations: operations, memoryBytes: memoryBytes)
        parameters.skipsWritingFloor = true
        return parameters
    }

    /// 3 passes over 256 MiB.
    public static let `default` = Argon2Parameters(operations: 3, memoryBytes: 256 << 20)
    /// The fewest passes a new wrapping may use.
    public static let minimumOperations: UInt64 = 2
    /// The least memory a new wrapping may use: 64 MiB.
    public static let minimumMemoryBytes: UInt64 = 64 << 20
    /// The most passes certvault runs, reading or writing.
    public static let maximumOperations: UInt64 = 10
    /// The most memory certvault gives Argon2id, reading or writing: 1 GiB.
    public static let maximumMemoryBytes: UInt64 = 1 << 30

    /// Memory in MiB as bytes, or nil when it does not fit (no silent wrap-around).
    public static func bytes(mebibytes: UInt64) -> UInt64? {
        let (bytes, overflow) = mebibytes.multipliedReportingOverflow(by: 1 << 20)
        return overflow ? nil : bytes
    }

    /// Refuses parameters outside the range for a new wrapping.
    func checkForWriting() throws {
        if skipsWritingFloor { return try checkForReading(file: nil) }
        guard (Argon2Parameters.minimumOperations...Argon2Parameters.maximumOperations).contains(operations),
            (Argon2Parameters.minimumMemoryBytes...Argon2Parameters.maximumMemoryBytes).contains(memoryBytes)
        else {
            throw CertVaultError(.invalidInput, "Argon2id with \(operations) passes over \(Argon2Parameters.describe(memoryBytes)) is out of range.",
                                 hint: "Use \(Argon2Parameters.minimumOperations) to \(Argon2Parameters.maximumOperations) passes "
                                    + "(--argon2-ops) and 64 to 1024 MiB (--argon2-memory-mib); the default is 3 passes over 256 MiB.")
        }
    }

    /// Refuses parameters read from a file before spending anything on them.
    func checkForReading(file: String?) throws {
        guard operations >= UInt64(crypto_pwhash_argon2id_OPSLIMIT_MIN), operations <= Argon2Parameters.maximumOperations,
            memoryBytes >= UInt64(crypto_pwhash_argon2id_MEMLIMIT_MIN), memoryBytes <= Argon2Parameters.maximumMemoryBytes
        else {
            let source = file.map { "'\($0)' asks for" } ?? "The parameters ask for"
            throw CertVaultError(.vaultCorrupt, "\(source) Argon2id with \(operations) passes over \(Argon2Parameters.describe(memoryBytes)), "
                + "outside what certvault runs (1 to \(Argon2Parameters.maximumOperations) passes, 8 KiB to 1 GiB).",
                hint: "Nothing was derived. certvault never writes such a file: it was altered, or it comes from elsewhere; "
                    + "restore root.passphrase from a backup.")
        }
    }

    static func describe(_ bytes: UInt64) -> String {
        bytes >= 1 << 20 && bytes % (1 << 20) == 0 ? "\(bytes >> 20) MiB" : "\(bytes) bytes"
    }
}

/// Reading, writing and unwrapping root keys. Formats: docs/vault-format.md.
enum RootKey {
    static let keyFileHeader = "certvault-root-key-v1"
    static let passphraseFile = "root.passphrase"

    /// A fresh random root key.
    static func generate() -> SecretBytes { SecretBytes.random(count: 32) }

    // MARK: Key file

    /// Writes `key` as a new key file: `certvault-root-key-v1\n<base64>\n`, 0600 in a 0700 folder.
    static func writeKeyFile(_ key: SecretBytes, to path: String) throws {
        let folder = parentFolder(of: path)
        try PrivateFiles.makePrivateDirectory(folder, exposure: .privateOnly)
        let header = Array((keyFileHeader + "\n").utf8)
        let encoded = SecretBase64.encode(key)
        let content = SecretBytes(count: header.count + encoded.count + 1) { out in
            out.copyBytes(from: header)
            encoded.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: out[header.count..<header.count + $0.count]).copyMemory(from: $0) }
            out[out.count - 1] = UInt8(ascii: "\n")
        }
        try PrivateFiles.writeNewFileAtomically(path, secret: content)
    }

    /// Reads a key file, refusing one that is not the user's own and private.
    ///
    /// The folder must be a 0700 folder of the user's; the file is opened once without following
    /// links, and the open descriptor must be a regular file of the user's with mode 0600 or
    /// stricter.
    static func readKeyFile(_ path: String) throws -> SecretBytes {
        var exists = stat()
        guard lstat(path, &exists) == 0 else {
            throw CertVaultError(.vaultLocked, "The vault key file '\(path)' does not exist.",
                                 hint: "Give the key file made by 'certvault init' with --key-file, or unlock with a passphrase option.",
                                 underlying: PrivateFiles.errnoText())
        }
        try PrivateFiles.checkPrivateFolder(parentFolder(of: path), what: "The folder of the vault key file")
        let fd = try PrivateFiles.openPrivateFile(path, what: "The vault key file")
        defer { close(fd) }
        let content = try SecretSource.fileDescriptor(fd).read()
        let header = Array((keyFileHeader + "\n").utf8)
        let key: SecretBytes? = content.withUnsafeBytes { bytes in
            guard bytes.count > header.count, Array(bytes.prefix(header.count)) == header else { return nil }
            return SecretBase64.decode(UnsafeRawBufferPointer(rebasing: bytes[header.count...]))
        }
        guard let key, key.count == 32 else {
            throw CertVaultError(.vaultLocked, "'\(path)' is not a certvault root key file.",
                                 hint: "It must start with '\(keyFileHeader)' followed by the base64 of 32 bytes.")
        }
        return key
    }

    // MARK: Passphrase

    /// Wraps `key` under `passphrase` and returns the `root.passphrase` file's bytes.
    static func wrap(_ key: SecretBytes, passphrase: SecretBytes, parameters: Argon2Parameters) throws -> [UInt8] {
        try parameters.checkForWriting()
        var salt = [UInt8](repeating: 0, count: Int(crypto_pwhash_SALTBYTES))
        randombytes_buf(&salt, salt.count)
        let nonce = AEAD.nonce()
        var header = ByteWriter()
        header.append(FileKind.passphraseRoot.magic)
        header.u8(1)  // KDF: Argon2id v1.3
        header.u64(parameters.operations)
        header.u64(parameters.memoryBytes)
        header.append(salt)
        header.append(nonce)
        let wrappingKey = try derive(passphrase, salt: salt, parameters: parameters)
        var file = header
        file.append(AEAD.seal(key, key: wrappingKey, nonce: nonce, associatedData: header.bytes))
        return file.bytes
    }

    /// Unwraps the root key from a `root.passphrase` file's bytes.
    static func unwrap(_ bytes: [UInt8], passphrase: SecretBytes, file: String) throws -> SecretBytes {
        try FileKind.passphraseRoot.checkMagic(bytes, file: file)
        var reader = ByteReader(bytes)
        do {
            _ = try reader.take(8)
            guard try reader.u8() == 1 else { throw VaultError.corrupt(file, "it names an unknown key-derivation function") }
            let parameters = Argon2Parameters(operations: try reader.u64(), memoryBytes: try reader.u64())
            try parameters.checkForReading(file: file)
            let salt = Array(try reader.take(Int(crypto_pwhash_SALTBYTES)))
            let nonce = try reader.take(AEAD.nonceBytes)
            let headerLength = reader.offset
            let wrapped = try reader.take(32 + AEAD.tagBytes)
            guard reader.atEnd else { throw VaultError.corrupt(file, "it has \(reader.remaining) unexpected bytes at the end") }
            let wrappingKey = try derive(passphrase, salt: salt, parameters: parameters)
            guard let key = AEAD.open(wrapped, key: wrappingKey, nonce: nonce, associatedData: Array(bytes[0..<headerLength])) else {
                throw CertVaultError(.vaultLocked, "The passphrase does not unlock the vault (or '\(file)' was altered).",
                                     hint: "Check the passphrase source; nothing was changed.")
            }
            return key
        } catch let error as FormatError {
            throw VaultError.corrupt(file, error.message)
        }
    }

    static func derive(_ passphrase: SecretBytes, salt: [UInt8], parameters: Argon2Parameters) throws -> SecretBytes {
        try parameters.checkForReading(file: nil)
        var failed = false
        let key = SecretBytes(count: 32) { out in
            passphrase.withUnsafeBytes { pass in
                failed = crypto_pwhash(out.baseAddress!.assumingMemoryBound(to: UInt8.self), 32,
                                       pass.baseAddress!.assumingMemoryBound(to: CChar.self), UInt64(pass.count), salt,
                                       parameters.operations, Int(parameters.memoryBytes), crypto_pwhash_ALG_ARGON2ID13) != 0
            }
        }
        if failed {
            throw CertVaultError(.invalidInput, "Argon2id could not allocate \(parameters.memoryBytes >> 20) MiB.",
                                 hint: "Free memory or choose a smaller --argon2-memory-mib when creating the vault.")
        }
        return key
    }

    static func parentFolder(of path: String) -> String {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count > 1 else { return "." }
        let parent = parts.dropLast().joined(separator: "/")
        return parent.isEmpty ? "/" : parent
    }
}

/// Base64 straight between secure buffers, so a key never sits in a plain string.
enum SecretBase64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ secret: SecretBytes) -> SecretBytes {
        secret.withUnsafeBytes { bytes in
            SecretBytes(count: (bytes.count + 2) / 3 * 4) { out in
                var o = 0
                var i = 0
                while i < bytes.count {
                    let b0 = UInt32(bytes[i]), b1 = i + 1 < bytes.count ? UInt32(bytes[i + 1]) : 0
                    let b2 = i + 2 < bytes.count ? UInt32(bytes[i + 2]) : 0
                    let value = b0 << 16 | b1 << 8 | b2
                    out[o] = alphabet[Int(value >> 18 & 63)]
                    out[o + 1] = alphabet[Int(value >> 12 & 63)]
                    out[o + 2] = i + 1 < bytes.count ? alphabet[Int(value >> 6 & 63)] : UInt8(ascii: "=")
                    out[o + 3] = i + 2 < bytes.count ? alphabet[Int(value & 63)] : UInt8(ascii: "=")
                    o += 4
                    i += 3
                }
            }
        }
    }

    /// Decodes standard padded base64; nil when the text is not that.
    static func decode(_ text: UnsafeRawBufferPointer) -> SecretBytes? {
        guard text.count % 4 == 0, !text.isEmpty else { return nil }
        let padding = (text[text.count - 1] == UInt8(ascii: "=") ? 1 : 0) + (text[text.count - 2] == UInt8(ascii: "=") ? 1 : 0)
        var valid = true
        let out = SecretBytes(count: text.count / 4 * 3 - padding) { out in
            var o = 0
            for block in stride(from: 0, to: text.count, by: 4) {
                var value: UInt32 = 0
                for k in 0..<4 {
                    let c = text[block + k]
                    var v: UInt32
                    switch c {
                    case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = UInt32(c - UInt8(ascii: "A"))
                    case UInt8(ascii: "a")...UInt8(ascii: "z"): v = UInt32(c - UInt8(ascii: "a")) + 26
                    case UInt8(ascii: "0")...UInt8(ascii: "9"): v = UInt32(c - UInt8(ascii: "0")) + 52
                    case UInt8(ascii: "+"): v = 62
                    case UInt8(ascii: "/"): v = 63
                    case UInt8(ascii: "=") where block + k >= text.count - padding: v = 0
                    default:
                        valid = false
                        v = 0
                    }
                    value = value << 6 | v
                }
                for k in 0..<3 where o < out.count {
                    out[o] = UInt8(value >> UInt32(16 - 8 * k) & 0xFF)
                    o += 1
                }
                value = 0
            }
        }
        return valid ? out : nil
    }
}
