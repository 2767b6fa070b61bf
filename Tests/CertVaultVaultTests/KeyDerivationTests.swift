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
