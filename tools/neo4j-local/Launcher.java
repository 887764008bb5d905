// Runs an embedded Neo4j Community DBMS with a Bolt connector on loopback, for the test suite.
//
// Launched as a single-file source program against the jars collected by pom.xml:
//   java -Xms512m -Xmx1g -cp "LIBDIR/*" Launcher.java \
//        --home DIR --port N --password PW --pagecache BYTES [--watch-stdin true]
//
// Prints "READY bolt://127.0.0.1:PORT neo4j-version=X" on stdout once Bolt clients can log in
// with user neo4j and the given password. Shuts the DBMS down cleanly on SIGTERM/SIGINT, and
// with --watch-stdin true also when stdin reaches EOF (the parent process went away).
// The same --home can be reused by a later run (restart keeps the data).

import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.GraphDatabaseInternalSettings;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.graphdb.Result;

public final class Launcher {

    public static void main(String[] args) throws Exception {
        Map<String, String> opts = parseArgs(args);
        Path home = Path.of(require(opts, "home")).toAbsolutePath();
        int port = Integer.parseInt(require(opts, "port"));
        String password = require(opts, "password");
        long pagecache = Long.parseLong(opts.getOrDefault("pagecache", String.valueOf(256L << 20)));
        if (Boolean.parseBoolean(opts.getOrDefault("watch-stdin", "false"))) {
            Thread watcher = new Thread(Launcher::exitOnStdinEof, "neo4j-local-stdin-watch");
            watcher.setDaemon(true);
            watcher.start();
        }

        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
                .setConfig(GraphDatabaseSettings.auth_enabled, true)
                .setConfig(GraphDatabaseSettings.pagecache_memory, pagecache)
                // Keep the disk footprint of a throwaway test DBMS small: no 256 MiB
                // preallocated transaction logs, only the latest log file retained.
                .setConfig(GraphDatabaseSettings.preallocate_logical_logs, false)
                .setConfig(GraphDatabaseSettings.logical_log_rotation_threshold, 16L << 20)
                .setConfig(GraphDatabaseSettings.keep_logical_logs, "false")
                .setConfig(GraphDatabaseSettings.udc_enabled, false)
                // Bolt's Netty event loops otherwise wait a 5 s quiet period each (boss and
                // worker) on shutdown; the databases are already checkpointed by then.
                .setConfig(GraphDatabaseInternalSettings.netty_server_shutdown_quiet_period, 0)
                .build();

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                dbms.shutdown();
            } finally {
                stopped.countDown();
            }
        }, "neo4j-local-shutdown"));

        // The Bolt port is already listening at this point, but clients only ever use the
        // password below and the Python side does not connect before READY is printed.
        GraphDatabaseService system = dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME);
        setPassword(system, password);
        String version = system.executeTransactionally(
                "CALL dbms.components() YIELD versions RETURN versions[0] AS v",
                Map.of(),
                (Result r) -> String.valueOf(r.next().get("v")));
        // Also wait for the default database so the first client query does not race its startup.
        dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME).isAvailable(60_000);

        System.out.println("READY bolt://127.0.0.1:" + port + " neo4j-version=" + version);
        System.out.flush();
        stopped.await();
    }

    // A parent killed with SIGKILL cannot stop us, but its end of our stdin pipe closes.
    private static void exitOnStdinEof() {
        try {
            while (System.in.read() != -1) {
                // ignore input
            }
        } catch (IOException e) {
            // treat a broken stdin like EOF
        }
        System.exit(0);
    }

    // Embedded transactions run with full privileges, so the admin command needs no login.
    // Setting the current password again fails ("Old password and new password cannot be the
    // same"), which happens on every restart of an existing home; skip it in that case.
    private static void setPassword(GraphDatabaseService system, String password) {
        boolean changeRequired = system.executeTransactionally(
                "SHOW USERS YIELD user, passwordChangeRequired WHERE user = 'neo4j' "
                        + "RETURN passwordChangeRequired",
                Map.of(),
                (Result r) -> !r.hasNext() || Boolean.TRUE.equals(r.next().get("passwordChangeRequired")));
        try {
            system.executeTransactionally(
                    "ALTER USER neo4j SET PASSWORD $pw CHANGE NOT REQUIRED", Map.of("pw", password));
        } catch (RuntimeException e) {
            if (changeRequired || !String.valueOf(e.getMessage()).contains("cannot be the same")) {
                throw e;
            }
        }
    }

    private static Map<String, String> parseArgs(String[] args) {
        Map<String, String> opts = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                throw new IllegalArgumentException("expected --name value pairs, got: " + args[i]);
            }
            opts.put(args[i].substring(2), args[++i]);
        }
        return opts;
    }

    private static String require(Map<String, String> opts, String name) {
        return Objects.requireNonNull(opts.get(name), "missing --" + name);
    }
}
