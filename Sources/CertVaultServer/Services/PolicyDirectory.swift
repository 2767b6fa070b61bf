import CertVaultCore
public import CertVaultPolicy
import Foundation
import HTTPTypes

/// The issuance policies a request may name: `NAME.toml` files in the configured policy folder
/// (`[policy] folder`), and `default`, which is the built-in default unless the folder has its own
/// `default.toml`. A name is a plain file stem, never a path, so a request cannot reach any other file.
public struct PolicyDirectory: Sendable {
    /// The folder of `NAME.toml` files.
    public let folder: String

    public init(folder: String) {
        self.folder = folder
    }

    /// Whether `name` has the shape of a policy name: 1-64 of `a-z 0-9 - _`, starting with a letter or digit.
    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...64).contains(bytes.count) else { return false }
        return bytes.enumerated().allSatisfy { index, byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || (index > 0 && (byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")))
        }
    }

    /// The policy called `name` (blocking: reads a file).
    ///
    /// - Throws: ``Problem`` `unknown-policy` (400) when there is no such policy, and the policy
    ///   loader's `invalid-policy` when its file does not parse.
    public func load(_ name: String) throws -> IssuancePolicy {
        guard PolicyDirectory.isValidName(name) else { throw unknown(name) }
        let path = "\(folder)/\(name).toml"
        if FileManager.default.fileExists(atPath: path) {
            do {
                return try PolicyLoader.load(path: path)
            } catch let error as CertVaultError {
                // The request named a policy that exists; its file is the server's problem.
                throw Problem(
                    .internalServerError, code: error.code.name, detail: error.reason,
                    hint: "Fix the policy file on the server ('certvault policy check FILE' says what is wrong).")
            }
        }
        if name == "default" { return try PolicyLoader.builtInDefault() }
        throw unknown(name)
    }

    /// The names available: the folder's `*.toml` stems and `default`.
    public func names() -> [String] {
        let stems = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            .filter { $0.hasSuffix(".toml") }.map { String($0.dropLast(5)) }.filter(PolicyDirectory.isValidName)
        return Array(Set(stems + ["default"])).sorted()
    }

    private func unknown(_ name: String) -> Problem {
        Problem(
            .badRequest, code: "unknown-policy",
            detail: "There is no issuance policy \(Problem.quoted(name)).",
            hint: "Name one of: \(names().joined(separator: ", ")) (files NAME.toml in the service's policy folder).")
    }
}
