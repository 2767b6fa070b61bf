import ArgumentParser
import CertVaultCore
import CertVaultHTTP
import CertVaultVB365
import Foundation
import Logging

/// How to reach and log in to a VB365 server. The password never comes from an argument.
struct VB365ConnectionOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The VB365 REST server, e.g. https://vb365.example:4443 (default: $CERTVAULT_VB365_URL).", valueName: "url"))
    var url: String?

    @Option(name: .long, help: ArgumentHelp("The VB365 account, often DOMAIN\\user (default: $CERTVAULT_VB365_USER).", valueName: "name"))
    var user: String?

    @Option(name: .long, help: ArgumentHelp("The REST API version: v6, v7 or v8 (default: detected).", valueName: "version"))
    var apiVersion: String?

    @Option(name: .long, help: ArgumentHelp("Trust the server through this CA bundle (PEM) alone, e.g. its self-signed certificate; the system CAs are then not consulted.", valueName: "path"))
    var caFile: String?

    @Option(name: .long, help: ArgumentHelp("Also require this public key, as curl spells it: sha256//BASE64.", valueName: "pin"))
    var pin: String?

    @Flag(name: .long, help: "Do not verify the server's certificate at all (warns on every request; for tests only).")
    var insecureSkipTLSVerify = false

    @Flag(name: .long, help: "Allow plain http:// to a loopback address (the simulator's --plain-http).")
    var allowPlainHTTPLoopback = false

    @Option(name: .long, help: ArgumentHelp("Seconds to wait for the connection.", valueName: "seconds"))
    var connectTimeout: Double = 10

    @Option(name: .long, help: ArgumentHelp("Seconds to wait for each whole request.", valueName: "seconds"))
    var timeout: Double = 60

    @Option(name: .long, help: ArgumentHelp(
        "Where a device code's verification URL may point, comma-separated host or host/path-prefix entries; replaces Microsoft's device-login hosts for the region (default: $CERTVAULT_VB365_VERIFICATION_HOSTS, else the built-in list in docs/vb365-simulator.md).",
        valueName: "hosts"))
    var verificationHosts: String?

    @Option(name: .long, help: ArgumentHelp("Read the VB365 password from this file.", valueName: "path"))
    var vb365PasswordFile: String?

    @Option(name: .long, help: ArgumentHelp("Read the VB365 password from this open file descriptor.", valueName: "fd"))
    var vb365PasswordFd: Int32?

    @Flag(name: .long, help: "Read the VB365 password from standard input.")
    var vb365PasswordStdin = false

    @Option(name: .long, help: ArgumentHelp("Read the VB365 password from this environment variable.", valueName: "name"))
    var vb365PasswordEnv: String?

    static let passwordNames = "--vb365-password-file, --vb365-password-fd, --vb365-password-stdin, --vb365-password-env"

    func validate() throws {
        _ = try SecretChoice.pick(file: vb365PasswordFile, fd: vb365PasswordFd, stdin: vb365PasswordStdin, env: vb365PasswordEnv,
                                  options: Self.passwordNames)
        if let apiVersion, VB365APIVersion(rawValue: apiVersion.lowercased()) == nil {
            throw ValidationError("--api-version must be v6, v7 or v8.")
        }
        if insecureSkipTLSVerify && (caFile != nil || pin != nil) {
            throw ValidationError("--insecure-skip-tls-verify cannot be combined with --ca-file or --pin.")
        }
        guard connectTimeout > 0, timeout > 0 else { throw ValidationError("Timeouts must be positive numbers of seconds.") }
        if let hosts = verificationHostList, hosts.isEmpty || hosts.contains(where: { $0.contains("://") || $0.contains(" ") }) {
            throw ValidationError("--verification-hosts takes host or host/path-prefix entries separated by commas, such as 'login.microsoftonline.us,microsoft.com/deviceloginus'.")
        }
    }

    /// `--verification-hosts`, else `$CERTVAULT_VB365_VERIFICATION_HOSTS`, split at commas.
    var verificationHostList: [String]? {
        guard let text = verificationHosts ?? Environment.value("CERTVAULT_VB365_VERIFICATION_HOSTS") else { return nil }
        return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    var trust: HTTPTrust {
        if insecureSkipTLSVerify { return .insecureNoVerification }
        if let pin { return .pinnedPublicKey(pin, caFile: caFile) }
        if let caFile { return .caFile(caFile) }
        return .systemStore
    }

    func makeClient(logger: Logger) throws -> VB365Client {
        guard let url = url ?? Environment.value("CERTVAULT_VB365_URL") else {
            throw CertVaultError(.invalidInput, "No VB365 server given.", hint: "Give --url https://HOST:4443 or set CERTVAULT_VB365_URL.")
        }
        guard let user = user ?? Environment.value("CERTVAULT_VB365_USER") else {
            throw CertVaultError(.invalidInput, "No VB365 account given.", hint: "Give --user 'DOMAIN\\user' (in single quotes: the shell drops a bare backslash) or set CERTVAULT_VB365_USER.")
        }
        guard let source = try SecretChoice.pick(file: vb365PasswordFile, fd: vb365PasswordFd, stdin: vb365PasswordStdin, env: vb365PasswordEnv,
                                                 options: Self.passwordNames) else {
            throw CertVaultError(.invalidInput, "No source for the VB365 password given.",
                                 hint: "Give one of \(Self.passwordNames); passwords are never taken as arguments.")
        }
        let password = try source.read()
        let http = HTTPClient.Configuration(trust: trust, connectTimeout: connectTimeout, totalTimeout: timeout,
                                           allowPlainHTTPToLoopback: allowPlainHTTPLoopback, userAgent: "certvault/\(CertVault.version)")
        let configuration = VB365Client.Configuration(serverURL: url, version: apiVersion.flatMap { VB365APIVersion(rawValue: $0.lowercased()) },
                                                      username: user, http: http, verificationHosts: verificationHostList)
        return try VB365Client(configuration: configuration, password: password, logger: logger)
    }
}
