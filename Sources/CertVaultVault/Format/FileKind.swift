/// The kinds of binary file in a vault. Each starts with the 6 bytes `CVAULT`, one byte naming
/// its kind and one byte of format version (see docs/vault-format.md).
enum FileKind: UInt8 {
    case passphraseRoot = 0x52  // "R"
    case keyring = 0x4B  // "K"
    case entry = 0x45  // "E"

    static let formatVersion: UInt8 = 1
    static let prefix = Array("CVAULT".utf8)

    /// The 8-byte magic of this kind at the current version.
    var magic: [UInt8] { FileKind.prefix + [rawValue, FileKind.formatVersion] }

    var name: String {
        switch self {
        case .passphraseRoot: "passphrase-protected root key"
        case .keyring: "keyring"
        case .entry: "vault entry"
        }
    }

    /// Checks the magic; says clearly whether the file is foreign, of another kind, or newer.
    func checkMagic(_ bytes: [UInt8], file: String) throws {
        guard bytes.count >= 8, Array(bytes[0..<6]) == FileKind.prefix else {
            throw VaultError.corrupt(file, bytes.isEmpty ? "it is empty" : "it is not a certvault \(name) (no CVAULT header)")
        }
        guard bytes[6] == rawValue else {
            throw VaultError.corrupt(file, "it is not a \(name) but a file of kind 0x\(String(bytes[6], radix: 16))")
        }
        guard bytes[7] == FileKind.formatVersion else {
            throw VaultError.corrupt(file, "it has format version \(bytes[7]); this certvault reads version \(FileKind.formatVersion)",
                                     hint: "Use the certvault release that wrote it, or a newer one.")
        }
    }
}
