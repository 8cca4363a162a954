require("http").createServer((_q, r) => r.end("api\n")).listen(8080);
