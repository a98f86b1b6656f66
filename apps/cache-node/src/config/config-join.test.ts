import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "./config.js";

const SECRET = ["--peer-secret", "0123456789abcdef0123"];

describe("--join and the advertised addresses", () => {
  it("takes a join URL, with the advertised addresses defaulting to the listen ones", () => {
    const config = parseConfig(["--node-id", "n4", "--port", "7304", "--join", "http://127.0.0.1:7301", ...SECRET]);
    expect(config).toMatchObject({ join: "http://127.0.0.1:7301", advertiseClient: "", advertisePeer: "", peerPort: 7404 });
    const advertised = parseConfig(["--port", "0", "--join", "http://a:1", ...SECRET, "--advertise-client", "h:7304", "--advertise-peer", "h:7404"]);
    expect(advertised).toMatchObject({ advertiseClient: "h:7304", advertisePeer: "h:7404" });
  });

  it.each([
    [["--join", "127.0.0.1:7301", ...SECRET], /--join must be a node's client URL/],
    [["--join", "ftp://127.0.0.1:7301", ...SECRET], /http:\/\/ or https:\/\//],
    [["--join", "http://127.0.0.1:7301"], /--join needs the cluster's --peer-secret/],
    [["--join", "http://127.0.0.1:7301", "--peer-secret", "short"], /--join needs the cluster's --peer-secret/],
    [["--join", "http://x:1", ...SECRET, "--initial-cluster", "n1=127.0.0.1:7301/127.0.0.1:7401"], /exclude each other/],
    [["--join", "http://x:1", ...SECRET, "--port", "0"], /needs --advertise-client/],
    [["--join", "http://x:1", ...SECRET, "--peer-port", "0"], /needs --advertise-peer/],
    [["--advertise-client", "nohost"], /--advertise-client must be host:port/],
    [["--advertise-peer", "h:0"], /--advertise-peer must be host:port/],
    [["--advertise-peer", "h:70000"], /--advertise-peer must be host:port/],
  ])("refuses %j", (argv, message) => {
    expect(() => parseConfig(argv)).toThrow(ConfigError);
    expect(() => parseConfig(argv)).toThrow(message);
  });
});
