import ArgumentParser
import CCurl
import COpenSSL
import CertVaultCore

/// `certvault version`: the tool's version and the C libraries it runs on.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version", abstract: "Print certvault's version and the OpenSSL, libsodium and libcurl it uses.")

    func run() throws {
        let openssl = String(cString: OpenSSL_version(OPENSSL_VERSION))
        let curl = String(cString: curl_version())
        Terminal.out("""
            certvault \(CertVault.version)
            \(openssl)
            libsodium \(SodiumRuntime.version)
            \(curl)

            """)
    }
}
