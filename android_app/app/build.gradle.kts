plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

val executorchVersion: String = providers.gradleProperty("executorchVersion").get()

android {
    namespace = "org.mobilenetdeploy.bench"
    compileSdk = 34

    defaultConfig {
        applicationId = "org.mobilenetdeploy.bench"
        minSdk = 26
        targetSdk = 34
        versionCode = 1
        versionName = "0.1.0"
        buildConfigField("String", "EXECUTORCH_VERSION", "\"$executorchVersion\"")
        ndk {
            abiFilters += listOf("arm64-v8a", "x86_64")
        }
    }

    buildTypes {
        // Benchmarks run the release build (not debuggable, so ART compiles it as users get it),
        // signed with the local debug key so that it installs without a keystore.
        release {
            isMinifyEnabled = false
            signingConfig = signingConfigs.getByName("debug")
        }
    }

    buildFeatures {
        buildConfig = true
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    kotlinOptions {
        jvmTarget = "17"
    }
}

dependencies {
    implementation("org.pytorch:executorch-android:$executorchVersion")
    testImplementation("junit:junit:4.13.2")
}
