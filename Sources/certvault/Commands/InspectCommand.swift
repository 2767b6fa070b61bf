import ArgumentParser
import CertVaultCore
import CertVaultIssuer
import Foundation

/// `certvault inspect`: open a PFX with its password and report what is inside.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Open a PFX (ours or any other tool's) with its password and show what it holds.",
        discussion: "Exits non-zero when the password is wrong, the file is damaged, or the key does not match the certificate."
    )

    @Argument(help: "The .pfx or .p12 file.")
    var file: String

    @Flag(name: .long, help: "Print the result as JSON.")
    var json = false

    @OptionGroup var password: PasswordInputOptions

    func validate() throws {
        if password.source == nil {
            throw ValidationError("Give the PFX password with --password-file, --password-fd, --password-stdin or --password-env.")
        }
    }

    func run() throws {
        let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? nil
        guard let size, size <= 1 << 20, let data = FileManager.default.contents(atPath: file) else {
            throw CertVaultError(.invalidInput, "Cannot read '\(file)' as a PFX" + ((size ?? 0) > 1 << 20 ? ": it is larger than 1 MiB." : "."),
                                 hint: "Check the path and permissions; a PFX with one key and certificate is a few KiB.")
        }
        let source = password.source!
        let contents = try PKCS12Contents(pfx: Array(data), password: try source.read())
        let report = InspectReport(
            friendlyName: contents.friendlyName, thumbprintSHA1: contents.thumbprintSHA1,
            keyAlgorithm: contents.keyIsRSA ? "RSA" : "not RSA", keyBits: contents.keyBits,
            keyMatchesCertificate: contents.keyMatchesCertificate,
            localKeyID: contents.localKeyID.map { Hex.upper($0) },
            extraCertificates: contents.extraCertificateCount)
        if json {
            Terminal.out(try Terminal.json(report) + "\n")
        } else {
            Terminal.out("""
                friendly name  \(report.friendlyName.map { DisplayText.escapingControls($0, limit: 200) } ?? "(none)")
                thumbprint     \(report.thumbprintSHA1)
                key            \(report.keyAlgorithm)-\(report.keyBits), \(report.keyMatchesCertificate ? "matches" : "DOES NOT MATCH") the certificate
                localKeyID     \(report.localKeyID ?? "(none)")
                other certs    \(report.extraCertificates)

                """)
        }
        if !contents.keyMatchesCertificate {
            throw CertVaultError(.pkcs12Unreadable, "The private key in '\(file)' does not belong to its certificate.",
                                 hint: "Export the PFX again from the matching key and certificate.")
        }
        if !contents.keyIsRSA || contents.keyBits < 2048 {
            throw CertVaultError(.pkcs12Unreadable, "The key in '\(file)' is not RSA of at least 2048 bits, which Entra ID requires.")
        }
    }
}

struct InspectReport: Codable {
    let friendlyName: String?
    let thumbprintSHA1: String
    let keyAlgorithm: String
    let keyBits: Int
    let keyMatchesCertificate: Bool
    let localKeyID: String?
    let extraCertificates: Int
}
