#!/usr/bin/env bash
# Apache Kafka for the tests (and for running the system with Kafka on one machine): the broker's
# jars from Maven Central (scripts/kafka/pom.xml) into .tools/kafka/lib. Needs Java 17+ and Maven,
# installed from Debian packages when missing. Idempotent: does nothing when the jars are there.
set -euo pipefail
cd "$(dirname "$0")/.."

lib=.tools/kafka/lib
stamp=.tools/kafka/pom.sha256
want=$(sha256sum scripts/kafka/pom.xml | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" && -n $(ls "$lib"/kafka_2.13-*.jar 2>/dev/null) ]]; then
    echo "kafka: jars already in $lib"
    exit 0
fi
scripts/install-system-deps.sh java maven
rm -rf "$lib" && mkdir -p "$lib"
mvn -q -B -f scripts/kafka/pom.xml dependency:copy-dependencies \
    -DoutputDirectory="$PWD/$lib" -DincludeScope=runtime
echo "$want" > "$stamp"
echo "kafka: $(ls "$lib" | wc -l) jars in $lib"
