require("http").createServer((_q, r) => r.end(`node ${process.version}\n`)).listen(8080);
