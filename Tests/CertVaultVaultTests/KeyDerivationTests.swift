import CertVaultCore
import CertVaultTesting
import CertVaultVault
import Foundation
import Testing

/// Argon2id parameters: a floor for what certvault writes, a cap on what it runs for a file
/// it has not authenticated yet.
@Suite("Argon2id parameters: floor when writing, cap when reading")
struct KeyDerivationTests {
    static let underFloor: [(Int, Int)] = [(1, 8 << 10), (1, 256 << 20), (3, 32 << 20), (11, 64 << 20), (3, (1 << 30) + (1 << 20))]
    static let overCap: [(UInt64, UInt64)] = [(11, 8 << 20), (1, 2 << 30), (20, 4 << 30)]

    @Test("a new vault with libsodium's minimum (1 pass, 8 KiB) or under the floor is refused",
          arguments: underFloor)
    func floor(_ operations: Int, _ memory: Int) throws {
        let dir = try TemporaryDirectory()
        let pass = try dir.write("pass.txt", "a long vault passphrase\n")
        let parameters = Argon2Parameters(operations: UInt64(operations), memoryBytes: UInt64(memory))
        let error = try #require(throws: CertVaultError.self) {
            try Vault.create(at: dir.file("vault"), protection: .passphrase(.file(pass), parameters: parameters))
        }
        #expect(error.code == .invalidInput)
        #expect(error.hint?.contains("--argon2-memory-mib") == true)
        #expect(!FileManager.default.fileExists(atPath: dir.file("vault/keyring")))
    }

    @Test("a root.passphrase asking for more than certvault runs is refused before any derivation",
          arguments: overCap)
    func cap(_ operations: UInt64, _ memory: UInt64) throws {
        let dir = try TemporaryDirectory()
        let pass = try dir.write("pass.txt", "a long vault passphrase\n")
        _ = try Vault.create(at: dir.file("vault"), protection: .passphrase(.file(pass), parameters: VaultFixtures.fastArgon))
        let path = dir.file("vault/root.passphrase")
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        for i in 0..<8 {
            bytes[9 + i] = UInt8(truncatingIfNeeded: operations >> (56 - 8 * UInt64(i)))
            bytes[17 + i] = UInt8(truncatingIfNeeded: memory >> (56 - 8 * UInt64(i)))
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let started = Date()
        let error = try #require(throws: CertVaultError.self) {
            try Vault.open(at: dir.file("vault"), unlock: .passphrase(.file(pass)))
        }
        #expect(error.code == .vaultCorrupt, "\(error.reason)")
        #expect(error.reason.contains("outside what certvault runs"))
        #expect(Date().timeIntervalSince(started) < 5)
    }

    @Test("a vault at the floor opens again, and its parameters are stored")
    func atFloor() throws {
        let dir = try TemporaryDirectory()
        let pass = try dir.write("pass.txt", "a long vault passphrase\n")
        let floor = Argon2Parameters(operations: Argon2Parameters.minimumOperations, memoryBytes: Argon2Parameters.minimumMemoryBytes)
        _ = try Vault.create(at: dir.file("vault"), protection: .passphrase(.file(pass), parameters: floor))
        _ = try Vault.open(at: dir.file("vault"), unlock: .passphrase(.file(pass)))
        #expect(Argon2Parameters.bytes(mebibytes: (1 << 44) + 1) == nil, "no silent wrap-around")
        #expect(Argon2Parameters.bytes(mebibytes: 64) == 64 << 20)
    }
}

/// The key file's exact text, as docs/vault-format.md states it.
@Suite("The key file's text: header line with LF, base64 line with an optional line end")
struct KeyFileTextTests {
    static let cases: [(String, Bool)] = [
        ("lf", true), ("none", true), ("crlf-last", true), ("crlf-all", false), ("two-lf", false), ("space", false),
    ]

    @Test("line ends the key file may and may not have", arguments: cases)
    func lineEnds(_ variant: String, _ opens: Bool) throws {
        let dir = try TemporaryDirectory()
        let (_, protection) = try VaultFixtures.keyFileVault(dir)
        let path = dir.file("key/root.key")
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        try #require(lines.count == 2)
        let text = switch variant {
        case "lf": lines[0] + "\n" + lines[1] + "\n"
        case "none": lines[0] + "\n" + lines[1]
        case "crlf-last": lines[0] + "\n" + lines[1] + "\r\n"
        case "crlf-all": lines[0] + "\r\n" + lines[1] + "\r\n"
        case "two-lf": lines[0] + "\n" + lines[1] + "\n\n"
        default: lines[0] + "\n" + lines[1] + " \n"
        }
        unlink(path)
        try PrivateFiles.writeNewFile(path, bytes: Array(text.utf8))
        if opens {
            _ = try Vault.open(at: dir.file("vault"), unlock: protection)
        } else {
            let error = try #require(throws: CertVaultError.self) { try Vault.open(at: dir.file("vault"), unlock: protection) }
            #expect(error.reason.contains("not a certvault root key file"))
        }
    }
}
