import CertVaultIssuer
import CertVaultTesting
import CertVaultVB365
import CertVaultVB365Simulator
import Foundation
import Testing

/// Every command example in README.md and docs/*.md, run with the built `certvault`, so that the
/// docs cannot drift from the tool.
///
/// How examples are found and run:
/// - An example is a fenced code block whose language is `sh`, `bash` or `shell`. Other blocks
///   (output, JSON, CSV, TOML, no language) are text, not run.
/// - The HTML comment lines right before a block's opening fence may say how to treat it:
///   `<!-- example: skip REASON -->` (not run here, for the reason given; its shell syntax is
///   still checked with `bash -n`), `<!-- example: synopsis -->` (a command summary with
///   placeholders: every `certvault` command it names must exist and every `--option` on a line
///   must appear in the help of that command or of the subcommands the line names),
///   `<!-- example: simulator -->` (run against a VB365 simulator this test starts: the URLs
///   `https://vb365.example:4443` and `https://HOST:4443` are replaced by the simulator's, its
///   certificate is `vb365.pem` in the folder, the accounts `CORP\svc-vb365`, `VB365\admin`
///   and `DOMAIN\user` exist, `$HOME/.vb365-password` holds their password, and every device
///   code counts as signed in at once), `<!-- example: given onboarded TENANT -->` (before the
///   document's first block runs, a vault is created and TENANT onboarded against the
///   simulator), `<!-- example: file NAME -->` (the block's text is written to NAME in the
///   folder before the document's blocks run). Clauses combine with `;`.
/// - All runnable blocks of one document run in order, in one `bash` with `set -eo pipefail`,
///   in a new scratch folder holding copies of `policy/` and `docs/`, with `certvault` (and
///   `.build/release/certvault`) on hand as the built binary, `HOME` in the scratch folder and
///   no `CERTVAULT_*` variables: a document is followed as a user would follow it, and an
///   example that fails names its document and line. (As `set -e` goes, a command that fails on
///   the left of `&&` stops the run only when its chain ends the block.)
@Suite("Every command example in README.md and docs/ runs as written", .serialized)
struct DocExamplesTests {
    static let documents: [String] = DocExamples.documents()

    @Test("the example blocks of each document", arguments: documents)
    func document(_ name: String) throws {
        let blocks = try DocExamples.blocks(in: name)
        for block in blocks {
            for directive in block.directives {
                #expect(DocExamples.known.contains(directive.word), "\(name):\(block.line): unknown example directive '\(directive.word)'")
                if directive.word == "skip" { #expect(!directive.argument.isEmpty, "\(name):\(block.line): a skipped example says why") }
            }
        }
        try DocExamples.checkSynopses(blocks.filter { $0.has("synopsis") }, document: name)
        for block in blocks where block.isShell && block.has("skip") {
            let syntax = try ProcessRunner.run("/bin/bash", ["-n", "-c", block.code])
            #expect(syntax.status == 0, "\(name):\(block.line): shell syntax: \(syntax.stderr)")
        }
        guard blocks.contains(where: \.runs) else { return }
        let run = try DocExamples.run(name, blocks)
        #expect(run.output.status == 0, """
            \(name): the example at line \(run.failedLine.map(String.init) ?? "?") failed (exit \(run.output.status)).
            --- stdout (end) ---
            \(run.output.stdout.suffix(3000))
            --- stderr (end) ---
            \(run.output.stderr.suffix(3000))
            """)
    }
}

enum DocExamples {
    static let known: Set<String> = ["skip", "synopsis", "simulator", "given", "file"]
    static let simulatorPassword = "docs-example-password"
    static let simulatorUsers = ["CORP\\svc-vb365", "VB365\\admin", "DOMAIN\\user"]
    static let placeholderURLs = ["https://vb365.example:4443", "https://HOST:4443"]

    struct Directive {
        let word: String
        let argument: String
    }

    struct Block {
        let line: Int
        let language: String
        let code: String
        let directives: [Directive]

        var isShell: Bool { ["sh", "bash", "shell"].contains(language) }
        var runs: Bool { isShell && !has("skip") && !has("synopsis") }
        func has(_ word: String) -> Bool { directives.contains { $0.word == word } }
        func argument(_ word: String) -> String? { directives.first { $0.word == word }?.argument }
    }

    /// README.md and every docs/*.md, relative to the package root.
    static func documents() -> [String] {
        let docs = (try? FileManager.default.contentsOfDirectory(atPath: "\(TestEnvironment.packageRoot)/docs")) ?? []
        return ["README.md"] + docs.filter { $0.hasSuffix(".md") }.sorted().map { "docs/\($0)" }
    }

    static func blocks(in document: String) throws -> [Block] {
        let text = try String(contentsOfFile: "\(TestEnvironment.packageRoot)/\(document)", encoding: .utf8)
        let lines = text.components(separatedBy: "\n")
        var blocks: [Block] = []
        var index = 0
        while index < lines.count {
            let line = lines[index]
            guard line.hasPrefix("```") else { index += 1; continue }
            let language = String(line.dropFirst(3)).trimmingCharacters(in: .whitespaces)
            var directives: [Directive] = []
            var back = index - 1
            while back >= 0, let clause = directiveText(lines[back]) {
                directives = parse(clause) + directives
                back -= 1
            }
            let fence = index + 1
            var body: [String] = []
            index += 1
            while index < lines.count, !lines[index].hasPrefix("```") {
                body.append(lines[index])
                index += 1
            }
            blocks.append(Block(line: fence, language: language,
                                code: body.joined(separator: "\n") + "\n", directives: directives))
            index += 1
        }
        return blocks
    }

    /// The text after `example:` in `<!-- example: ... -->`, or nil.
    static func directiveText(_ line: String) -> String? {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("<!--"), trimmed.hasSuffix("-->") else { return nil }
        let inner = trimmed.dropFirst(4).dropLast(3).trimmingCharacters(in: .whitespaces)
        guard inner.hasPrefix("example:") else { return nil }
        return String(inner.dropFirst("example:".count))
    }

    /// Clauses separated by `;`; `skip REASON` takes the rest of the comment, `;` included.
    static func parse(_ text: String) -> [Directive] {
        var directives: [Directive] = []
        var rest = Substring(text)
        while !rest.trimmingCharacters(in: .whitespaces).isEmpty {
            let trimmed = rest.drop { $0 == " " }
            let word = String(trimmed.prefix { $0 != " " && $0 != ";" })
            let end = word == "skip" ? trimmed.endIndex : (trimmed.firstIndex(of: ";") ?? trimmed.endIndex)
            let argument = trimmed[trimmed.index(trimmed.startIndex, offsetBy: word.count)..<end].trimmingCharacters(in: .whitespaces)
            directives.append(Directive(word: word, argument: argument))
            rest = end < trimmed.endIndex ? trimmed[trimmed.index(after: end)...] : ""
        }
        return directives
    }

    // MARK: Synopses

    static func checkSynopses(_ blocks: [Block], document: String) throws {
        var helps: [String: (status: Int32, text: String)] = [:]
        func help(_ words: [String]) throws -> (status: Int32, text: String) {
            let key = words.joined(separator: " ")
            if let known = helps[key] { return known }
            let output = try CLI.run(words + ["--help"])
            helps[key] = (output.status, output.stdout + output.stderr)
            return helps[key]!
        }
        let word = try NSRegularExpression(pattern: "^[a-z][a-z0-9-]*$")
        let option = try NSRegularExpression(pattern: "--[a-z0-9][a-z0-9-]*")
        for block in blocks {
            for (offset, line) in block.code.components(separatedBy: "\n").enumerated() where line.hasPrefix("certvault ") {
                let where_ = "\(document):\(block.line + 1 + offset)"
                let command = line.components(separatedBy: " #").first ?? line
                let tokens = command.split(separator: " ").map(String.init)
                guard tokens.count > 1 else { continue }
                let top = try help([tokens[1]])
                #expect(top.status == 0, "\(where_): 'certvault \(tokens[1])' is not a command")
                var texts = [top.text]
                for token in tokens.dropFirst(2) where word.firstMatch(in: token, range: NSRange(token.startIndex..., in: token)) != nil {
                    if top.text.contains("\n  \(token) ") || top.text.contains("\n  \(token)\n") {
                        let sub = try help([tokens[1], token])
                        if sub.status == 0 { texts.append(sub.text) }
                    }
                }
                let all = texts.joined(separator: "\n")
                for match in option.matches(in: command, range: NSRange(command.startIndex..., in: command)) {
                    let name = String(command[Range(match.range, in: command)!])
                    let found = all.range(of: "\(name)(?![a-z0-9-])", options: .regularExpression) != nil
                    #expect(found, "\(where_): \(name) is not an option of 'certvault \(tokens[1])' (or of the subcommands the line names)")
                }
            }
        }
    }

    // MARK: Running

    struct Run {
        let output: ProcessOutput
        let failedLine: Int?
    }

    static func run(_ document: String, _ blocks: [Block]) throws -> Run {
        let scratch = try TemporaryDirectory()
        let root = TestEnvironment.packageRoot
        let files = FileManager.default
        for folder in ["policy", "docs"] { try files.copyItem(atPath: "\(root)/\(folder)", toPath: scratch.file(folder)) }
        try files.createDirectory(atPath: scratch.file(".bin"), withIntermediateDirectories: true)
        try files.createSymbolicLink(atPath: scratch.file(".bin/certvault"), withDestinationPath: CLI.binary)
        try files.createDirectory(atPath: scratch.file(".build/release"), withIntermediateDirectories: true)
        try files.createSymbolicLink(atPath: scratch.file(".build/release/certvault"), withDestinationPath: CLI.binary)
        try files.createDirectory(atPath: scratch.file("home"), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])

        var simulator: VB365Simulator?
        defer { simulator?.stop() }
        if blocks.contains(where: { $0.has("simulator") || $0.has("given") }) {
            var users: [String: String] = [:]
            for user in simulatorUsers { users[user] = simulatorPassword }
            let started = try VB365Simulator(configuration: .init(version: .v8, users: users, signInAfter: 0))
            try started.start()
            simulator = started
            _ = try scratch.write("vb365.pem", started.identity!.certificatePEM)
            _ = try scratch.write("home/.vb365-password", simulatorPassword + "\n")
        }
        for block in blocks {
            if let name = block.argument("file") { _ = try scratch.write(name, block.code) }
        }

        var script = """
            set -eo pipefail
            unset $(env | sed -n 's/^\\(CERTVAULT_[A-Za-z0-9_]*\\)=.*/\\1/p')
            export HOME='\(scratch.file("home"))' PATH='\(scratch.file(".bin")):'"$PATH"
            cd '\(scratch.path)'
            trap 'jobs -p | xargs -r kill 2>/dev/null' EXIT

            """
        for block in blocks {
            if let given = block.argument("given"), let simulator {
                let tenant = given.replacingOccurrences(of: "onboarded ", with: "").trimmingCharacters(in: .whitespaces)
                let connection = "--url \(simulator.baseURL) --user 'VB365\\admin' --ca-file vb365.pem --vb365-password-file \"$HOME/.vb365-password\""
                script += """
                    echo '@@example \(block.line) (given onboarded \(tenant))'; echo '@@example \(block.line)' >&2
                    certvault init >/dev/null
                    certvault onboard start \(tenant) --org-name \(tenant).onmicrosoft.com \(connection) >/dev/null
                    certvault onboard wait \(tenant) --interval 0.2 \(connection) >/dev/null

                    """
            }
        }
        for block in blocks where block.runs {
            var code = block.code
            if block.has("simulator"), let simulator {
                for url in placeholderURLs { code = code.replacingOccurrences(of: url, with: simulator.baseURL) }
            }
            // `set -e` ignores a failure on the left of `&&`; a block that ends with such a chain
            // still ends with its status, which is checked here.
            script += "echo '@@example \(block.line)'; echo '@@example \(block.line)' >&2\n" + code
                + "\n__status=$?; if [ \"$__status\" -ne 0 ]; then exit \"$__status\"; fi\n"
        }
        let path = try scratch.write(".examples.sh", script)
        let output = try ProcessRunner.run("/usr/bin/timeout", ["900", "/bin/bash", path], currentDirectory: scratch.path)
        if let log = ProcessInfo.processInfo.environment["CERTVAULT_EXAMPLES_LOG"] {
            // For a person reading what the examples printed: CERTVAULT_EXAMPLES_LOG=folder.
            let name = document.replacingOccurrences(of: "/", with: "_")
            try? Data((script + "\n--- stdout ---\n" + output.stdout + "\n--- stderr ---\n" + output.stderr).utf8)
                .write(to: URL(fileURLWithPath: "\(log)/\(name).log"))
        }
        let failed = output.status == 0 ? nil : output.stdout.components(separatedBy: "\n").last { $0.hasPrefix("@@example ") }
            .flatMap { Int($0.dropFirst("@@example ".count).split(separator: " ").first ?? "") }
        return Run(output: output, failedLine: failed)
    }
}
