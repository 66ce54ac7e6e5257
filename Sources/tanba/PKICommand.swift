import ArgumentParser
import Foundation
import TanbaWire

struct PKICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pki",
        abstract: "Development certificate authority and per-node TLS certificates and envelope signing keys.",
        discussion: """
            For development and local clusters only. In production use certificates from a real \
            authority (see docs/protocol.md); the Ed25519 envelope keys stay Tanba's own.
            """,
        subcommands: [PKIInit.self, PKIIssue.self])
}

struct PKIInit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a development CA (P-256, self-signed): DIR/ca.crt and DIR/ca.key (0600).")

    @Option(help: "Folder for the CA files (created if needed; an existing CA key is never overwritten).")
    var out: String

    func run() throws {
        do {
            try DevelopmentPKI.initialize(directory: out)
        } catch {
            throw CommandError("pki init: \(error)")
        }
        print("CA written to \(out)/ca.crt (key \(out)/ca.key, mode 0600)")
    }
}

struct PKIIssue: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue",
        abstract: "Issue a node's certificate and keys from the CA.",
        discussion: """
            Writes into --out: ca.crt, NAME.crt, NAME.key (0600; TLS, P-256, CN and DNS name = NAME), \
            NAME.sign.key (0600) and NAME.sign.pub (Ed25519 envelope signing key pair). Every node's \
            keyring trusts the *.sign.pub files of its peers.
            """)

    @Option(help: "Folder holding ca.crt and ca.key (from `tanba pki init`).") var ca: String
    @Option(help: "Node name: 1–64 of A–Z a–z 0–9 . _ -") var name: String
    @Option(help: "Output folder (created if needed).") var out: String

    func validate() throws {
        guard NodeName.isValid(name) else { throw ValidationError("invalid node name '\(name)' (1–64 of A–Z a–z 0–9 . _ -)") }
    }

    func run() throws {
        do {
            try DevelopmentPKI.issue(name: name, caDirectory: ca, directory: out)
        } catch {
            throw CommandError("pki issue: \(error)")
        }
        print("\(name): \(out)/\(name).crt, \(name).key, \(name).sign.key, \(name).sign.pub")
    }
}
